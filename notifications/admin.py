"""Looking after the outbox: counts, dead letters, re-queueing, and who cannot be reached."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from notifications import facts
from notifications.messages import route
from notifications.models import Channel, Notification, NotificationStatus
from notifications.settings import NotifySettings

logger = logging.getLogger(__name__)


def unreachable_recipients(*, session: Session, inspector_ids: Iterable[str]) -> list[str]:
    """The inspectors (sorted ids) with no usable email or webhook, unknown ids included."""
    ids = sorted(set(inspector_ids))
    people = facts.inspectors(session, ids)
    return [i for i in ids if i not in people or route(people[i])[0] == Channel.none]


def status_counts(*, session: Session, round_key: str | None = None) -> dict[str, int]:
    stmt = select(Notification.status, func.count()).group_by(Notification.status)
    if round_key:
        stmt = stmt.where(Notification.round_key == round_key)
    counts = {s.value: 0 for s in NotificationStatus}
    for status, n in session.exec(stmt).all():
        counts[str(getattr(status, "value", status))] = n
    return counts


@dataclass(frozen=True)
class DeadLetter:
    id: int
    round_key: str
    kind: str
    recipient: str
    channel: str
    address: str
    attempts: int
    last_error: str


def dead_letters(*, session: Session, round_key: str | None = None) -> list[DeadLetter]:
    stmt = select(Notification).where(Notification.status == NotificationStatus.dead)
    if round_key:
        stmt = stmt.where(Notification.round_key == round_key)
    return [
        DeadLetter(
            id=n.id or 0,
            round_key=n.round_key,
            kind=str(n.kind.value),
            recipient=n.recipient,
            channel=str(n.channel.value),
            address=n.address,
            attempts=n.attempts,
            last_error=n.last_error or "",
        )
        for n in session.exec(stmt.order_by(col(Notification.id))).all()
    ]


def retry_dead(
    *, session: Session, round_key: str | None = None, notify: NotifySettings | None = None
) -> int:
    """Re-queue dead letters, re-reading each recipient's current address (an inspector whose
    email was missing or wrong may have been corrected since). Adds to ``session``; no commit."""
    notify = notify or NotifySettings()
    stmt = select(Notification).where(Notification.status == NotificationStatus.dead)
    if round_key:
        stmt = stmt.where(Notification.round_key == round_key)
    rows = list(session.exec(stmt).all())
    people = facts.inspectors(session, [n.recipient for n in rows])
    now = datetime.now(UTC)
    for n in rows:
        who = people.get(n.recipient)
        if n.recipient == "coordinator":
            who = facts.coordinator(notify)
        if who is not None:
            channel, address = route(who)
            if channel != Channel.none or n.channel != Channel.file:
                n.channel, n.address = channel, address
        n.status = NotificationStatus.pending
        n.attempts = 0
        n.next_attempt_at = now
        n.lease_until = None
        session.add(n)
    logger.info("re-queued %d dead letter(s)", len(rows))
    return len(rows)
