"""One member's link to one check ended and replaced, the key unchanged (``shuangsui
notifications relink --end-old``, the enterprise page's 作废原链接并重新发送).

A link is an HMAC over (round, enterprise, inspector) with nothing stored
(``notifications.links``); a forwarded or lost link could only be refused by revoking the
inspector in the round (which refuses the inspector too) or by rotating the key (every
inspector's link in the bureau). A *generation* is a number mixed into one member's token of
one check: no row here, generation 0, today's token, every link sent before; each row ends
the generation before its own. The draw's records are untouched: nothing of this is in an
assignment, a bundle or a test vector. The token check (``api.inspector_tokens``) takes the
member's current generation and refuses an older one's link as replaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Column, Text
from sqlmodel import Field, Session, SQLModel

from notifications.links import assignment_tokens, holds_link
from notifications.messages import Outgoing
from notifications.models import Notification, NotificationKind, NotificationStatus
from registry.models import Inspector
from rounds import audit
from shuangsui.errors import UserError

# the messages that hold a member's link to a check (``payload["link"]``)
LINK_KINDS = [k.value for k in (NotificationKind.assignment, NotificationKind.reminder,
                                NotificationKind.signoff_request,
                                NotificationKind.link_reissued)]  # fmt: skip


class LinkGeneration(SQLModel, table=True):
    """Generation ``generation`` (>= 1) of a member's link to a check began, ending the one
    before: when, by whom, why."""

    __tablename__ = "link_generation"

    round_key: str = Field(primary_key=True, foreign_key="round.round_key")
    credit_code: str = Field(primary_key=True, max_length=18)
    inspector_id: str = Field(primary_key=True)
    generation: int = Field(primary_key=True)
    ended_at: datetime
    ended_by: str
    reason: str = Field(sa_column=Column(Text, nullable=False))


class Unseen(UserError):
    """An ending asked for a generation the member's link has not reached (a form's hidden
    field altered by hand): no page showed it, so which link was meant is not known."""


@dataclass(frozen=True)
class LinkEnded:
    """Audit event: a member's link to a check ended (generation ``ended``) and the next one
    (``generation``) made, by whom and why; the holder of the old one is not known."""

    by: str
    reason: str
    inspector_id: str
    credit_code: str
    ended: int
    generation: int


def current(
    session: Session, round_key: str, credit_code: str | None = None,
    members: Sequence[str] | None = None,
) -> dict[tuple[str, str], int]:  # fmt: skip
    """The current generation of each member's link to each check of ``round_key`` that has
    one above 0 (only ``credit_code``'s, only ``members``', when given), by (credit_code,
    inspector_id); a seat not in it is at generation 0."""
    g = LinkGeneration.__table__.c  # type: ignore[attr-defined]
    stmt = (
        sa.select(g.credit_code, g.inspector_id, sa.func.max(g.generation))
        .where(g.round_key == round_key)
        .group_by(g.credit_code, g.inspector_id)
    )
    if credit_code is not None:
        stmt = stmt.where(g.credit_code == credit_code)
    if members is not None:
        stmt = stmt.where(g.inspector_id.in_(list(members)))
    return {(code, member): int(n) for code, member, n in session.execute(stmt)}


def current_in(
    session: Session, rounds: Iterable[str], members: Iterable[str] | None = None
) -> dict[tuple[str, str, str], int]:
    """:func:`current` for several rounds at once (only ``members``', when given), by
    (round_key, credit_code, inspector_id): one query."""
    g = LinkGeneration.__table__.c  # type: ignore[attr-defined]
    stmt = (
        sa.select(g.round_key, g.credit_code, g.inspector_id, sa.func.max(g.generation))
        .where(g.round_key.in_(sorted(rounds)))
        .group_by(g.round_key, g.credit_code, g.inspector_id)
    )
    if members is not None:
        stmt = stmt.where(g.inspector_id.in_(sorted(members)))
    return {(r, c, i): int(n) for r, c, i, n in session.execute(stmt)}


def end(
    session: Session, *, round_key: str, credit_code: str, inspector_id: str, by: str,
    reason: str, seen: int | None = None, secret: str = "",
) -> tuple[int, bool]:  # fmt: skip
    """End the member's current link to the check, in the caller's transaction (which holds
    the round's row, ``notifications.relink``): the generation after it made, with an audit
    entry. The inspector's row is locked first, as a revocation locks it: a write through the
    old link that has checked it (``api.inspector_tokens.still_open``) commits before, one
    later reads the new generation and is refused.

    Once per ending: ``seen``, the generation the caller saw (the page's form), already ended
    (a second POST of the form, another coordinator's at once) ends nothing more; one the
    link has not reached is refused (:class:`Unseen`), nothing written. And a current link
    that has not left (:func:`left`, its token made under ``secret``) is never ended, whatever
    reason this call gives and whichever generation it is: the member's first link whose
    检查任务通知 waits in the outbox untried, or the new link an ending made and no message
    has carried yet (the same command twice in a row, two processes at once, two coordinators
    with two causes). Nobody but the member can come to hold a link not sent, and a link made
    in its place would go the same way, by the same message to the same address. Once a
    message holding it has been sent or tried, an ending ends it (docs/workspace.md, "Two
    endings of one link" and "A link never sent"). The generation current after, and whether
    this call ended one."""
    session.get(Inspector, inspector_id, with_for_update=True)
    latest = latest_ending(session, round_key, credit_code, inspector_id)
    now_at = latest.generation if latest else 0
    if seen is not None and seen > now_at:
        raise Unseen(f"generation {seen}: the link of {inspector_id} to {credit_code} is at "
                     f"generation {now_at}; nothing ended")  # fmt: skip
    if seen is not None and seen != now_at:
        return now_at, False
    if not current_left(session, round_key, credit_code, inspector_id, now_at, secret):
        return now_at, False
    session.add(LinkGeneration(round_key=round_key, credit_code=credit_code,
                               inspector_id=inspector_id, generation=now_at + 1,
                               ended_at=datetime.now(UTC), ended_by=by, reason=reason))  # fmt: skip
    session.flush()
    audit.add_to(session, round_key, LinkEnded(by, reason, inspector_id, credit_code,
                                               now_at, now_at + 1))  # fmt: skip
    return now_at + 1, True


def latest_ending(
    session: Session, round_key: str, credit_code: str, inspector_id: str
) -> LinkGeneration | None:
    """The last ending of the member's link to the check (its row: the generation it began,
    when, by whom, why); None when the link was never ended (generation 0)."""
    g = LinkGeneration.__table__.c  # type: ignore[attr-defined]
    seat = (g.round_key == round_key, g.credit_code == credit_code, g.inspector_id == inspector_id)
    mine = sa.select(LinkGeneration).where(*seat).order_by(g.generation.desc()).limit(1)
    return session.execute(mine).scalars().first()


def current_left(
    session: Session, round_key: str, credit_code: str, inspector_id: str, generation: int,
    secret: str,
) -> bool:  # fmt: skip
    """Whether the member's link of ``generation`` (made under ``secret``) may have left
    (:func:`left`)."""
    token = assignment_tokens(secret, round_key)(credit_code, inspector_id, generation)
    return left(session, round_key, credit_code, inspector_id, token)


def left(session: Session, round_key: str, credit_code: str, inspector_id: str, token: str) -> bool:
    """Whether a message holding the link of ``token`` may have left for the member: sent, in
    a dispatcher's hands (leased: it may be going now), or tried and failed (an attempt spent,
    or an error recorded: to be retried, given up on, or given up on and queued again by
    ``notifications retry``, which starts its count afresh). A failure does not say nothing
    left: a connection lost after the message's body was handed to the mail server, a
    webhook whose answer was not read, a wrong address's server that took it and bounced it
    later. Only a message waiting untried has not: nobody can have lost that link yet."""
    n = Notification.__table__.c  # type: ignore[attr-defined]
    gone = sa.or_(n.status == NotificationStatus.sent.value, n.lease_until >= datetime.now(UTC),
                  n.attempts > 0, n.last_error.is_not(None))  # fmt: skip
    payloads = session.execute(
        sa.select(n.payload).where(
            n.round_key == round_key, n.recipient == inspector_id, n.kind.in_(LINK_KINDS), gone
        )
    ).scalars()
    return any(p.get("credit_code") == credit_code and holds_link(p, token) for p in payloads)


def waiting(now: datetime) -> sa.ColumnElement[bool]:
    """Whether an outbox row waits for an attempt and is not in a dispatcher's hands: pending
    or to be retried (not sent, not given up on), no lease or one run out by ``now``. It may
    have been tried (:func:`untried` says it was not)."""
    n = Notification.__table__.c  # type: ignore[attr-defined]
    return sa.and_(n.status.in_([NotificationStatus.pending.value,
                                 NotificationStatus.failed.value]),
                   sa.or_(n.lease_until.is_(None), n.lease_until < now))  # fmt: skip


def untried(now: datetime) -> sa.ColumnElement[bool]:
    """Whether an outbox row waits and has not left (:func:`left`'s other side): waiting,
    no attempt spent and no error recorded, not in a dispatcher's hands (no lease, or one run
    out by ``now``). Only such a message may be withdrawn or sent elsewhere: nothing of it can
    have reached anyone. A statement that changes one on PostgreSQL checks this again on the
    row a dispatcher's claim committed meanwhile (which then has a lease), and leaves it."""
    n = Notification.__table__.c  # type: ignore[attr-defined]
    unleased = sa.or_(n.lease_until.is_(None), n.lease_until < now)
    return sa.and_(n.status == NotificationStatus.pending.value, n.attempts == 0,
                   n.last_error.is_(None), unleased)  # fmt: skip


def current_links(session: Session, messages: list[Outgoing], secret: str) -> list[Outgoing]:
    """``messages`` with the link of each seat whose link a coordinator ended made of its
    current generation (subject, body, payload): a notice, a reminder or a request to sign
    queued after the end carries the link that opens, not generation 0's. A link not of
    generation 0 under ``secret`` (another key's, one already current) is left as it is."""
    rounds = {m.round_key for m in messages if m.payload.get("link")}
    current = current_in(session, rounds) if rounds else {}
    if not current:
        return messages
    out = []
    for m in messages:
        code, link = str(m.payload.get("credit_code", "")), m.payload.get("link")
        n = current.get((m.round_key, code, m.recipient), 0)
        if n and link:
            made = assignment_tokens(secret, m.round_key)
            old, new = made(code, m.recipient), made(code, m.recipient, n)
            if holds_link(m.payload, old):
                m = replace(m, subject=m.subject.replace(old, new), body=m.body.replace(old, new),
                            payload={**m.payload, "link": link.replace(old, new)})  # fmt: skip
        out.append(m)
    return out
