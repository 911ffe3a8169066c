"""Looking after the outbox: counts, dead letters, re-queueing, and who cannot be reached."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, col, select

from notifications import facts, generations
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


@dataclass(frozen=True)
class Retrying:
    """Messages to one recipient at one address tried and failed, waiting for their retry
    (or for their channel to come back): how many, the most attempts spent, the next try,
    the last error recorded."""

    recipient: str
    channel: str
    address: str
    messages: int
    attempts: int
    next_attempt_at: datetime
    last_error: str


def retrying(*, session: Session, round_key: str | None = None) -> list[Retrying]:
    """The messages waiting again after a failure, by recipient and address (one row each,
    not one a message: a mail server down leaves thousands)."""
    n = Notification.__table__.c  # type: ignore[attr-defined]
    due = n.status.in_([NotificationStatus.pending.value, NotificationStatus.failed.value])
    where = [due, n.last_error.is_not(None)] + ([n.round_key == round_key] if round_key else [])
    groups = session.execute(
        sa.select(n.recipient, n.channel, n.address, func.count(), func.max(n.attempts),
                  func.min(n.next_attempt_at), func.max(n.id))
        .where(*where).group_by(n.recipient, n.channel, n.address)
        .order_by(n.recipient, n.channel, n.address)
    ).all()  # fmt: skip
    errors = dict(session.execute(sa.select(n.id, n.last_error).where(
        n.id.in_([g[-1] for g in groups]))).all()) if groups else {}  # fmt: skip
    return [Retrying(r, str(Channel(c).value), a, int(k), int(tries), at, errors.get(last) or "")
            for r, c, a, k, tries, at, last in groups]  # fmt: skip


@dataclass(frozen=True)
class Misaddressed:
    """Messages to an inspector waiting for an attempt at an address the registry no longer
    holds for them (``channel`` ``address``: what it holds now; ``none``: no usable email or
    webhook, so the import that changed it moved nothing)."""

    recipient: str
    old_channel: str
    old_address: str
    messages: int
    channel: str
    address: str


def misaddressed(*, session: Session, round_key: str | None = None) -> list[Misaddressed]:
    """The inspectors' waiting messages (``generations.waiting``) whose address is not the
    registry's now, by recipient and address."""
    from notifications.readdress import KINDS

    n = Notification.__table__.c  # type: ignore[attr-defined]
    where = [n.kind.in_(KINDS), generations.waiting(datetime.now(UTC))]
    if round_key:
        where.append(n.round_key == round_key)
    groups = session.execute(
        sa.select(n.recipient, n.channel, n.address, func.count()).where(*where)
        .group_by(n.recipient, n.channel, n.address).order_by(n.recipient, n.channel, n.address)
    ).all()  # fmt: skip
    people = facts.inspectors(session, {g[0] for g in groups})
    out = []
    for member, channel, address, count in groups:
        if member not in people:
            continue
        now = route(people[member])
        if now != (Channel(channel), address):
            out.append(Misaddressed(member, str(Channel(channel).value), address, int(count),
                                    now[0].value, now[1]))  # fmt: skip
    return out
