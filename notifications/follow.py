"""What a dispatcher does with a message held while the member's address was corrected, their
link ended or made under a new key, or their link given again: once it has recorded its
failure, and when it claims it.

A registry import that corrects an inspector's address (``notifications.readdress``) and a
relink (``notifications.relink``) leave a message a dispatcher holds at that moment as it is:
it may be going now, and what becomes of it is not known until its outcome is recorded. When
that outcome is a failure (to be retried, or its channel paused), the message waits again,
but at the old address, holding the old link, and it would be tried there again until its
attempts ran out: the member's live link to a wrong address, or a link that no longer opens
to the member. And when the dispatcher stops before recording any outcome (killed, its host
lost), its lease runs out and the next claim takes the message as it stands. So, once a
dispatcher has recorded the failure (``dispatch._Recorder``: :func:`after_failures`), and at
each claim (``dispatch.claim``: :func:`to_follow` in the claim's transaction, then, once it is
committed, :func:`follow` on what it names in a transaction of its own, one dispatcher at a
time: :func:`one_at_a_time`), each such message of an inspector's:

- goes to the address the registry holds now, when that is usable and another
  (``readdress.readdress``, with the member's other messages waiting there; its count of
  attempts starts again, audited ``MessagesReaddressed``);
- a 检查链接重新发送 that a later one of the same check, holding the member's current link
  and to be sent or sent, took the place of is withdrawn (:class:`LinkMessageWithdrawn`):
  the member gets one message, not a dead link beside the live one (the later one says the
  earlier link no longer opens), nor the same link twice (two runs for two reasons while the
  first run's was in a dispatcher's hands); with no such later one it stays;
- any other holding a link that is no longer the member's current one (ended, or of another
  key) is written again with the current link (``relink._rewrite_links``, as a relink writes
  the messages it finds waiting, audited :class:`LinksRewrittenAfterFailure`, or
  :class:`LinksRewrittenAtClaim`).

A message sent, or given up on (dead: ``notifications retry`` reads the registry again, and a
relink writes a dead letter's link again), is not this module's. Every statement checks again
that the row waits and is not leased: another dispatcher's claim meanwhile keeps its row (a
claim gives its own rows back, in the following's transaction, first). Nothing is followed
under a key other than the recorded one (``link_key``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from notifications import facts, generations, link_key, readdress
from notifications.generations import LINK_KINDS
from notifications.links import assignment_tokens, holds_link
from notifications.messages import Person, route
from notifications.models import Channel, Notification, NotificationKind, NotificationStatus
from registry.models import Inspector

logger = logging.getLogger(__name__)
REISSUED = NotificationKind.link_reissued.value
# a later 检查链接重新发送 takes an earlier one's place when it is to be sent, or sent
_GOING = [s.value for s in (NotificationStatus.pending, NotificationStatus.failed,
                            NotificationStatus.sent)]  # fmt: skip


@dataclass(frozen=True)
class LinkMessageWithdrawn:
    """Audit event: a 检查链接重新发送 to ``inspector_id`` on ``credit_code`` that a dispatcher
    held while a later one took its place, failed there (``attempts``, ``error``, at
    ``address``) or was claimed again after that dispatcher stopped (no attempt recorded),
    and was withdrawn: the later one holds the member's current link."""

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


@dataclass(frozen=True)
class LinksRewrittenAtClaim:
    """Audit event: ``messages`` of ``inspector_id``'s on ``credit_code`` holding a link that
    no longer opens, written again with the current one as a dispatcher claimed one of them:
    a dispatcher held it when the link changed and stopped before recording its outcome."""

    inspector_id: str
    credit_code: str
    messages: int


def after_failures(engine: Engine, ids: Sequence[int], secret: str) -> None:
    """Follow the messages of ``ids`` (failures just recorded) that wait again, in a
    transaction of their own. Logged, never raised: the outcomes are recorded already, and a
    message not followed now is where a failure left it before. Under a key that is no longer
    the recorded one (``link_key``) nothing is written: its links would not open; the next
    claim of a current dispatcher follows them."""
    try:
        with Session(engine) as session, session.begin():
            one_at_a_time(session.connection())
            link_key.check(session.connection(), link_key.fingerprint(secret),
                           who="a dispatcher, after a failure")  # fmt: skip
            follow(session, ids, secret)
    except link_key.StaleKey as exc:
        logger.error("%s; messages %s not followed after their failure", exc, list(ids)[:20])
    except Exception:
        logger.exception("following messages %s after their failure failed", list(ids)[:20])


FOLLOW_LOCK = 0x5353_4E46  # "SSNF": the advisory lock of following (PostgreSQL)


def one_at_a_time(conn: sa.Connection) -> None:
    """Wait, in ``conn``'s transaction, for the turn to follow (PostgreSQL: a transaction's
    advisory lock; SQLite writes one transaction at a time). Taken before any row is
    written: two dispatchers following the same member's messages at once each locked rows
    the other then waited on, a deadlock. A relink takes it too, before anything else
    (``relink.relink``): it writes the same messages again in another order (the round's, by
    id, where a following goes seat by seat, auditing each), and the two met, each holding a
    row the other waited on. A change that writes the same messages again (a replacement,
    a new date, a finding's version or signature: ``rounds.turns``, installed by
    ``hooks.install``) takes it shared, before the round's row (:func:`not_while_following`):
    it appends to the audit log and writes the team's waiting messages, and a following
    holding a member's message waited on the log's head it held. A claim never waits for it."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": FOLLOW_LOCK})


def not_while_following(conn: sa.Connection) -> None:
    """The turn a change that writes members' messages again takes (``rounds.turns``: a
    replacement, a new date, a finding's version or signature, a findings import, a joint
    round's replacement), in ``conn``'s transaction: it waits for a following or a relink
    under way (:func:`one_at_a_time`) and keeps one from starting till it ends, but changes do
    not wait for each other (PostgreSQL: the same advisory lock, shared). They take their own
    rows in their own order (the round's row first); what they met in the other order was a
    following, which goes seat by seat holding the audit log's head. Taken exclusively, every
    finding written in the bureau waited for every other's transaction to end."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": FOLLOW_LOCK})


def follow(session: Session, ids: Sequence[int], secret: str, *, claimed: bool = False) -> None:
    """In the caller's transaction: each of ``ids`` that waits for an attempt, to an
    inspector, sent after the member's corrected address and their current link; a
    检查链接重新发送 that a later one took the place of withdrawn. ``claimed``: the messages
    were just claimed, not failed (:func:`to_follow`), and their rewriting is audited so."""
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
    moved = _moved(session, rows)
    if moved:
        readdress.readdress(session, moved)
    links = [r for r in rows if r.kind in LINK_KINDS and r.payload.get("link")]
    tokens = _tokens(session, map(_seat, links), secret)
    seats: dict[tuple[str, str, str], list[sa.Row]] = {}
    for r in links:
        seats.setdefault(_seat(r), []).append(r)
    rewritten_so = LinksRewrittenAtClaim if claimed else LinksRewrittenAfterFailure
    for (round_key, code, member), mine in sorted(seats.items()):
        token = tokens[(round_key, code, member)]
        events: list[object] = _withdraw_replaced(session, round_key, code, member, token, mine)
        if not all(holds_link(r.payload, token) for r in mine):
            rewritten, _ = _rewrite_links(session, round_key, [Seat(code, member)],
                                          _constant(token), {})  # fmt: skip
            if rewritten:
                events.append(rewritten_so(member, code, rewritten))
        if events:
            readdress.append(session, round_key, events)


def to_follow(session: Session, rows: Sequence[sa.Row], secret: str) -> list[int]:
    """Of messages a dispatcher has just claimed (``rows``: id, round_key, kind, recipient,
    channel, address, payload), the ids :func:`follow` has something to do with before they
    go: one to an inspector queued to another address than the registry's usable one now,
    holding another link than the member's current one, or a 检查链接重新发送 (a later one
    may have taken its place). A relink, an ending and the registry's import leave a message
    a dispatcher holds as it is; when that dispatcher stops before recording an outcome
    (killed, its lease run out), the next claim is the first to see the message again. Two
    statements (the recipients' routes in the registry, the link generations of their
    rounds) and a token a seat; nothing written."""
    mine = [(r, _seat(r)) for r in rows if r.kind in readdress.KINDS]
    if not mine:
        return []
    moved = _moved(session, [r for r, _ in mine])
    tokens = _tokens(session, [seat for r, seat in mine if r.kind in LINK_KINDS
                               and r.payload.get("link")], secret)  # fmt: skip
    out = []
    for r, seat in mine:
        token = tokens.get(seat)
        if (r.kind == REISSUED or r.recipient in moved
                or token is not None and not holds_link(r.payload, token)):  # fmt: skip
            out.append(r.id)
    return out


def _seat(row: sa.Row) -> tuple[str, str, str]:
    return row.round_key, str(row.payload.get("credit_code", "")), row.recipient


def _moved(session: Session, rows: Sequence[sa.Row]) -> dict[str, tuple[Channel, str]]:
    """The route (channel, address) the registry holds now for each member of ``rows`` one
    of whose messages is queued elsewhere, when it is usable."""
    queued = {(r.recipient, r.channel, r.address) for r in rows}
    routes = _routes(session, {member for member, _, _ in queued})
    return {member: routes[member] for member, channel, address in queued
            if member in routes and routes[member] != (channel, address)}  # fmt: skip


_I = Inspector.__table__.c  # type: ignore[attr-defined]
_ROUTES = sa.select(_I.inspector_id, _I.email, _I.webhook_url, _I.webhook_kind).where(
    _I.inspector_id.in_(sa.bindparam("ids", expanding=True))
)


def _routes(session: Session, members: set[str]) -> dict[str, tuple[Channel, str]]:
    """The usable route (``messages.route``) the registry holds now for each of ``members``;
    a member it gives none, or has no row of, is left out. The statement is built once: a
    claim runs it for every batch."""
    out, db = {}, session.connection()  # a Core statement: no ORM step
    for chunk in facts._chunks(sorted(members)):
        for member, email, url, kind in db.execute(_ROUTES, {"ids": list(chunk)}):
            kind = str(getattr(kind, "value", kind))
            to = route(Person(member, "", email=email, webhook_url=url, webhook_kind=kind))
            if to[0] != Channel.none:
                out[member] = to
    return out


def _tokens(
    session: Session, seats: Iterable[tuple[str, str, str]], secret: str
) -> dict[tuple[str, str, str], str]:
    """The token of the current link of each seat (round_key, credit_code, inspector_id):
    of its generation (``generations.current_in``: one query, the rounds' endings, few),
    under ``secret``."""
    seats = set(seats)
    if not seats:
        return {}
    rounds = {round_key for round_key, _, _ in seats}
    current = generations.current_in(session, rounds)
    made = {round_key: assignment_tokens(secret, round_key) for round_key in rounds}
    return {seat: made[seat[0]](seat[1], seat[2], current.get(seat, 0)) for seat in seats}


def _constant(token: str) -> Callable[[str, str], str]:
    return lambda credit_code, inspector_id: token


def _withdraw_replaced(
    session: Session, round_key: str, code: str, member: str, token: str, rows: Sequence[sa.Row]
) -> list[object]:
    """Delete each 检查链接重新发送 of ``rows`` when a later one of the seat holds ``token``
    (the member's current link) and is to be sent or sent: whether the earlier one holds a
    link ended since or the same link (a second run for another reason while the first was
    in a dispatcher's hands), the member gets the later one alone, which says what is true
    of the earlier link. One with no such later message (the only one, or the later one
    given up on) stays. Its audit events."""
    table = Notification.__table__  # type: ignore[attr-defined]
    n = table.c
    old = [r for r in rows if r.kind == REISSUED]
    if not old:
        return []
    later = session.execute(
        sa.select(n.id, n.payload).where(n.round_key == round_key, n.recipient == member,
                                         n.kind == REISSUED, n.id > min(r.id for r in old),
                                         n.status.in_(_GOING))
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
