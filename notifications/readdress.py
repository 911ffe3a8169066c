"""An inspector's messages not yet left follow their address when the registry corrects it.

A message is written with the channel and address the registry held for its member when it was
queued (``messages.route``). An address corrected since (a wrong email, a webhook moved) left
every waiting message where it was queued: a 检查任务通知 took the member's live link to the
wrong address when dispatched, and a relink mended only the messages of the check it was
given (``notifications.relink._rewrite_links``). Now the registry's import, in the transaction
that writes the change (``registry.importer.after_update_hooks``), sends each of the member's
messages that has not left (waiting, never tried, not in a dispatcher's hands:
``generations.untried``), of every check and round, to the address it holds now, audited
(:class:`MessagesReaddressed`: the member, the old address and the new, how many). A message
that has left (sent, leased: it may be going now, or tried: its attempts and error are of the
address it was tried at) is never touched; ``notifications retry`` reads the registry again
for a dead letter it queues again. A member the registry now gives no usable address keeps
the address their messages have, as a relink keeps it: nowhere is said instead, and a message
sent nowhere is dead on arrival, which counts as tried.
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
from rounds import audit
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
    """Audit event: ``messages`` of the round's messages to ``inspector_id`` not yet left,
    queued to ``old_channel`` ``old_address``, sent to the address the registry now holds
    (``channel`` ``address``) when its import corrected it."""

    inspector_id: str
    old_channel: str
    old_address: str
    channel: str
    address: str
    messages: int


def after_inspectors_updated(session: Session, rows: Sequence[tuple[dict, dict]]) -> None:
    """The registry's hook: each inspector row an import set changed (before, after) whose
    route changed to a usable one has their messages not yet left sent there."""
    moved: dict[str, tuple[Channel, str]] = {}
    for before, after in rows:
        old, new = route(_person(before)), route(_person(after))
        if new != old and new[0] != Channel.none:
            moved[str(after["inspector_id"])] = new
    if moved:
        readdress(session, moved)


def readdress(
    session: Session, routes: Mapping[str, tuple[Channel, str]]
) -> list[tuple[str, MessagesReaddressed]]:
    """Send each member's messages not yet left (``generations.untried``) to ``routes[member]``
    (channel, address), in the caller's transaction, audited per round and old address. The
    update checks again that each row has not left: on PostgreSQL a dispatcher's claim
    committed meanwhile leaves the row leased, and it stays where it was queued. What was
    moved: (round_key, event) per round, member and old address."""
    table = Notification.__table__  # type: ignore[attr-defined]
    n = table.c
    waiting = sa.and_(n.kind.in_(KINDS), generations.untried(datetime.now(UTC)))
    found: dict[int, tuple[str, str, str, str]] = {}  # id -> round, member, old channel, address
    mine: dict[str, list[int]] = {}  # member -> the ids found
    for chunk in facts._chunks(sorted(routes)):
        rows = session.execute(sa.select(n.id, n.round_key, n.recipient, n.channel, n.address)
                               .where(waiting, n.recipient.in_(chunk)))  # fmt: skip
        for row_id, round_key, member, channel, address in rows:
            if (Channel(channel), address) != routes[member]:
                found[row_id] = (round_key, member, str(Channel(channel).value), address)
                mine.setdefault(member, []).append(row_id)
    moved: dict[tuple[str, str, str, str], int] = {}
    for member, ids in sorted(mine.items()):
        channel, address = routes[member]
        done = session.execute(sa.update(table).where(n.id.in_(ids), waiting)
                               .values(channel=channel, address=address)
                               .returning(n.id)).scalars()  # fmt: skip
        for row_id in done:
            moved[found[row_id]] = moved.get(found[row_id], 0) + 1
    events: dict[str, list[MessagesReaddressed]] = {}
    for (round_key, member, old_channel, old_address), count in sorted(moved.items()):
        channel, address = routes[member]
        events.setdefault(round_key, []).append(MessagesReaddressed(
            member, old_channel, old_address, channel.value, address, count))  # fmt: skip
    for round_key, said in events.items():
        _append(session, round_key, said)
    return [(r, e) for r, said in events.items() for e in said]


def _append(session: Session, round_key: str, events: list[MessagesReaddressed]) -> None:
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
