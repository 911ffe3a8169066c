"""An inspector's messages not yet left follow their address when the registry corrects it.

A message is written with the channel and address the registry held for its member when it was
queued (``messages.route``). An address corrected since (a wrong email, a webhook moved) left
every waiting message where it was queued: a 检查任务通知 took the member's live link to the
wrong address when dispatched, and a relink mended only the messages of the check it was
given (``notifications.relink._rewrite_links``). Now the registry's import, in the transaction
that writes the change (``registry.importer.after_update_hooks``), sends each of the member's
messages that waits for an attempt (pending, or to be retried after a failure; not in a
dispatcher's hands: ``generations.waiting``), of every check and round, to the address it
holds now, audited (:class:`MessagesReaddressed`: the member, the old address and the new, how
many, how many of them had been tried).

A message tried at the old address and waiting for its retry (a bounce, an SMTP 4xx, a
webhook's 5xx) follows as well: it was going to be tried there again until its attempts ran
out, each time with the member's live link. Its count of attempts starts again at 0 and it
is due at once: the attempts spent and the back-off they earned were the old address's, and
the corrected one has been tried by nobody (``notifications retry`` starts a dead letter's
count afresh for the same reason). Its last error is kept: that the message was tried (it may
have reached the old address: ``generations.left``) stays true, and a link it held can still
be ended.

What never moves: a message sent; one given up on (dead: ``notifications retry`` reads the
registry again when it queues it again); one a dispatcher holds at that moment (leased: it
may be going now) - its outcome comes first, and if that is a failure the dispatcher, having
recorded it, sends the message after the member's corrected address
(``notifications.follow``), audited the same way. A member the registry now gives no usable
address keeps the address their messages have, as a relink keeps it: nowhere is said
instead, and a message sent nowhere is dead on arrival.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from notifications import facts, generations
from notifications.messages import Person, route
from notifications.models import Channel, Notification, NotificationKind
from rounds import audit, turns
from shuangsui.errors import Conflict

# the kinds addressed to an inspector (an id of the registry's could be spelt "coordinator":
# the coordinator's and the enterprises' messages are never theirs)
K = NotificationKind
KINDS = [k.value for k in (K.assignment, K.reminder, K.signoff_request, K.link_reissued,
                           K.team_changed, K.assignment_withdrawn, K.due_changed,
                           K.assistance_assigned)]  # fmt: skip
APPENDS = 20  # audit appends tried in the import's transaction before it gives up


@dataclass(frozen=True)
class MessagesReaddressed:
    """Audit event: ``messages`` of the round's messages to ``inspector_id`` waiting for an
    attempt, queued to ``old_channel`` ``old_address``, sent to the address the registry now
    holds (``channel`` ``address``) when its import corrected it; ``tried`` of them had been
    tried there and failed (their count of attempts started again, due at once)."""

    inspector_id: str
    old_channel: str
    old_address: str
    channel: str
    address: str
    messages: int
    tried: int = 0


def after_inspectors_updated(session: Session, rows: Sequence[tuple[dict, dict]]) -> None:
    """The registry's hook: each inspector row an import set changed (before, after) whose
    route changed to a usable one has their messages not yet left sent there. It takes the
    changes' turn first (``rounds.turns``): it writes the members' waiting messages, then
    appends to the audit log, and a dispatcher's claim following messages
    (``notifications.follow``) does so in the other order, seat by seat, holding the log's
    head; the two deadlocked on PostgreSQL, and the import set was lost. Taken here, not at the
    import's start: a set that moves nobody keeps no following waiting."""
    moved: dict[str, tuple[Channel, str]] = {}
    for before, after in rows:
        old, new = route(_person(before)), route(_person(after))
        if new != old and new[0] != Channel.none:
            moved[str(after["inspector_id"])] = new
    if moved:
        turns.take(session.connection())
        readdress(session, moved)


def readdress(
    session: Session, routes: Mapping[str, tuple[Channel, str]]
) -> list[tuple[str, MessagesReaddressed]]:
    """Send each member's messages waiting for an attempt (``generations.waiting``) to
    ``routes[member]`` (channel, address), in the caller's transaction, audited per round and
    old address; one tried there starts its count of attempts again, due now. The update
    checks again that each row waits: on PostgreSQL a dispatcher's claim committed meanwhile
    leaves the row leased, and it stays where it was queued (its outcome first:
    ``notifications.follow``). What was moved: (round_key, event) per round, member and old
    address."""
    table = Notification.__table__  # type: ignore[attr-defined]
    n = table.c
    now = datetime.now(UTC)
    waiting = sa.and_(n.kind.in_(KINDS), generations.waiting(now))
    tried = n.last_error.is_not(None)  # every failure records its error
    found: dict[int, tuple[str, str, str, str]] = {}  # id -> round, member, old channel, address
    mine: dict[str, list[int]] = {}  # member -> the ids found
    for chunk in facts._chunks(sorted(routes)):
        rows = session.execute(sa.select(n.id, n.round_key, n.recipient, n.channel, n.address)
                               .where(waiting, n.recipient.in_(chunk)))  # fmt: skip
        for row_id, round_key, member, channel, address in rows:
            if (Channel(channel), address) != routes[member]:
                found[row_id] = (round_key, member, str(Channel(channel).value), address)
                mine.setdefault(member, []).append(row_id)
    moved: dict[tuple[str, str, str, str], list[int]] = {}  # -> [messages, tried]
    for member, ids in sorted(mine.items()):
        channel, address = routes[member]
        done = session.execute(
            sa.update(table).where(n.id.in_(ids), waiting)
            .values(channel=channel, address=address, attempts=0,
                    next_attempt_at=sa.case((tried, now), else_=n.next_attempt_at))
            .returning(n.id, n.last_error)
        )  # fmt: skip
        for row_id, error in done:
            counts = moved.setdefault(found[row_id], [0, 0])
            counts[0] += 1
            counts[1] += error is not None
    events: dict[str, list[MessagesReaddressed]] = {}
    for (round_key, member, old_channel, old_address), (count, n_tried) in sorted(moved.items()):
        channel, address = routes[member]
        events.setdefault(round_key, []).append(MessagesReaddressed(
            member, old_channel, old_address, channel.value, address, count, n_tried))  # fmt: skip
    for round_key, said in events.items():
        append(session, round_key, said)
    return [(r, e) for r, said in events.items() for e in said]


def append(session: Session, round_key: str, events: Sequence[object]) -> None:
    """The events appended to the audit log in the caller's transaction (a registry import,
    long, which nothing repeats), trying again in a savepoint when a concurrent writer took
    the log's head first (PostgreSQL; on SQLite the import holds the write lock)."""
    for _ in range(APPENDS):
        try:
            with session.begin_nested():
                audit.add_many(session, round_key, events)
            return
        except sa.exc.IntegrityError:
            continue
    raise Conflict("the audit log was taken by other writers throughout: try the import again")


def _person(row: Mapping[str, Any]) -> Person:
    kind = row.get("webhook_kind") or "generic"
    return Person(inspector_id=str(row.get("inspector_id", "")), name="",
                        email=str(row.get("email") or ""),
                        webhook_url=str(row.get("webhook_url") or ""),
                        webhook_kind=str(getattr(kind, "value", kind)))  # fmt: skip


def install() -> None:
    """Idempotent: the registry's import tells this module of the inspectors it changed."""
    from registry import importer

    hooks = importer.after_update_hooks.setdefault("inspectors", [])
    if after_inspectors_updated not in hooks:
        hooks.append(after_inspectors_updated)
