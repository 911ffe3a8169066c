"""What a dispatcher does once it has recorded a failure: a message it held while the member's
address was corrected, or while their link was ended or made under a new key, follows.

A registry import that corrects an inspector's address (``notifications.readdress``) and a
relink (``notifications.relink``) leave a message a dispatcher holds at that moment as it is:
it may be going now, and what becomes of it is not known until its outcome is recorded. When
that outcome is a failure (to be retried, or its channel paused), the message waits again,
but at the old address, holding the old link, and it would be tried there again until its
attempts ran out: the member's live link to a wrong address, or a link that no longer opens
to the member. So, once the dispatcher has recorded the failure (``dispatch._Recorder``),
each such message of an inspector's:

- goes to the address the registry holds now, when that is usable and another
  (``readdress.readdress``, with the member's other messages waiting there; its count of
  attempts starts again, audited ``MessagesReaddressed``);
- holding a link that is no longer the member's current one (ended, or of another key): a
  检查链接重新发送 that a later one of the same check, holding the current link, took the place
  of is withdrawn (:class:`LinkMessageWithdrawn`): the later one says the earlier link no
  longer opens, and the member gets one message, not a dead link beside the live one; any
  other is written again with the current link (``relink._rewrite_links``, as a relink writes
  the messages it finds waiting, audited :class:`LinksRewrittenAfterFailure`).

A message sent, or given up on (dead: ``notifications retry`` reads the registry again, and a
relink writes a dead letter's link again), is not this module's. Every statement checks again
that the row waits and is not leased: another dispatcher's claim meanwhile keeps its row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from notifications import facts, generations, readdress
from notifications.generations import LINK_KINDS
from notifications.links import assignment_tokens, holds_link
from notifications.messages import route
from notifications.models import Channel, Notification, NotificationKind

logger = logging.getLogger(__name__)
REISSUED = NotificationKind.link_reissued.value


@dataclass(frozen=True)
class LinkMessageWithdrawn:
    """Audit event: a 检查链接重新发送 to ``inspector_id`` on ``credit_code`` that a dispatcher
    held while a later one took its place, failed there (``attempts``, ``error``, at
    ``address``) and was withdrawn: the later one holds the member's current link."""

    inspector_id: str
    credit_code: str
    address: str
    attempts: int
    error: str


@dataclass(frozen=True)
class LinksRewrittenAfterFailure:
    """Audit event: ``messages`` of ``inspector_id``'s on ``credit_code`` holding a link that
    no longer opens (ended, or of another key), written again with the current one after a
    dispatcher that held one of them recorded its failure."""

    inspector_id: str
    credit_code: str
    messages: int


def after_failures(engine: Engine, ids: Sequence[int], secret: str) -> None:
    """Follow the messages of ``ids`` (failures just recorded) that wait again, in a
    transaction of their own. Logged, never raised: the outcomes are recorded already, and a
    message not followed now is where a failure left it before."""
    try:
        with Session(engine) as session, session.begin():
            follow(session, ids, secret)
    except Exception:
        logger.exception("following messages %s after their failure failed", list(ids)[:20])


def follow(session: Session, ids: Sequence[int], secret: str) -> None:
    """In the caller's transaction: each of ``ids`` that waits for an attempt, to an
    inspector, sent after the member's corrected address and their current link."""
    from notifications.relink import Seat, _rewrite_links  # relink imports the outbox

    n = Notification.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(n.id, n.round_key, n.kind, n.recipient, n.channel, n.address, n.payload,
                  n.attempts, n.last_error)
        .where(n.id.in_(list(ids)), n.kind.in_(readdress.KINDS),
               generations.waiting(datetime.now(UTC)))
    ).all()  # fmt: skip
    if not rows:
        return
    people = facts.inspectors(session, {r.recipient for r in rows})
    routes = {member: route(p) for member, p in people.items()}
    moved = {r.recipient: routes[r.recipient] for r in rows if r.recipient in routes
             and routes[r.recipient][0] != Channel.none
             and routes[r.recipient] != (Channel(r.channel), r.address)}  # fmt: skip
    if moved:
        readdress.readdress(session, moved)
    links = [r for r in rows if r.kind in LINK_KINDS and r.payload.get("link")]
    current = (
        generations.current_in(session, {r.round_key for r in links}, {r.recipient for r in links})
        if links
        else {}
    )
    seats: dict[tuple[str, str, str], list[sa.Row]] = {}
    for r in links:
        seats.setdefault((r.round_key, str(r.payload.get("credit_code", "")), r.recipient),
                         []).append(r)  # fmt: skip
    for (round_key, code, member), mine in sorted(seats.items()):
        made = assignment_tokens(secret, round_key)
        token = made(code, member, current.get((round_key, code, member), 0))
        if all(holds_link(r.payload, token) for r in mine):
            continue  # the link of each is the member's current one
        events: list[object] = _withdraw_replaced(session, round_key, code, member, token, mine)
        rewritten, _ = _rewrite_links(session, round_key, [Seat(code, member)],
                                      _constant(token), {})  # fmt: skip
        if rewritten:
            events.append(LinksRewrittenAfterFailure(member, code, rewritten))
        if events:
            readdress.append(session, round_key, events)


def _constant(token: str) -> Callable[[str, str], str]:
    return lambda credit_code, inspector_id: token


def _withdraw_replaced(
    session: Session, round_key: str, code: str, member: str, token: str, rows: Sequence[sa.Row]
) -> list[object]:
    """Delete each 检查链接重新发送 of ``rows`` holding another link than ``token`` when a later
    one of the seat holds ``token``; its audit events."""
    table = Notification.__table__  # type: ignore[attr-defined]
    n = table.c
    old = [r for r in rows if r.kind == REISSUED and not holds_link(r.payload, token)]
    if not old:
        return []
    later = session.execute(
        sa.select(n.id, n.payload).where(n.round_key == round_key, n.recipient == member,
                                         n.kind == REISSUED, n.id > min(r.id for r in old))
    ).all()  # fmt: skip
    newest = max((i for i, p in later if p.get("credit_code") == code and holds_link(p, token)),
                 default=None)  # fmt: skip
    gone = [r for r in old if newest is not None and r.id < newest]
    if not gone:
        return []
    deleted = set(session.execute(
        sa.delete(table).where(n.id.in_([r.id for r in gone]),
                               generations.waiting(datetime.now(UTC)))
        .returning(n.id)).scalars())  # fmt: skip
    return [LinkMessageWithdrawn(member, code, r.address, int(r.attempts), str(r.last_error or ""))
            for r in gone if r.id in deleted]  # fmt: skip
