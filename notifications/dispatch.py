"""The dispatcher: claims due messages from the outbox and delivers them.

Workers (threads, ``concurrency`` of them) each hold one SMTP connection reused across their
messages and share one ``httpx.Client``. A worker records each outcome before taking its next
message; one recorder thread writes the outcomes of all workers in a single transaction
(group commit). So a crash can repeat at most the ``concurrency`` messages that were in flight,
and every repeat carries the same ``Message-ID`` / ``Idempotency-Key`` as its first copy.

Claiming sets a lease (``lease_until``); on PostgreSQL the claim also uses
``FOR UPDATE SKIP LOCKED``, so concurrent dispatchers never take the same message.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine, and_, bindparam, or_, select, update

from notifications.channels import DeliveryError
from notifications.delivery import Delivery
from notifications.models import Notification
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.config import Settings, get_settings

logger = logging.getLogger(__name__)

T = Notification.__table__  # type: ignore[attr-defined]
DUE_STATUSES = ("pending", "failed")
_COLUMNS = (
    T.c.id, T.c.idempotency_key, T.c.round_key, T.c.kind, T.c.recipient, T.c.channel,
    T.c.address, T.c.subject, T.c.body, T.c.payload, T.c.attempts, T.c.created_at,
)  # fmt: skip


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0  # transient failure, scheduled again
    dead: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0


@dataclass(frozen=True)
class _Outcome:
    id: int
    attempts: int  # attempts before this one
    error: DeliveryError | None = None


def claim(engine: Engine, limit: int, now: datetime, lease: timedelta, round_key=None):  # type: ignore[no-untyped-def]
    """Lease up to ``limit`` due messages in one statement; return their rows, oldest first."""
    due = and_(
        T.c.status.in_(DUE_STATUSES),
        T.c.next_attempt_at <= now,
        or_(T.c.lease_until.is_(None), T.c.lease_until < now),
    )
    if round_key:
        due = and_(due, T.c.round_key == round_key)
    ids = select(T.c.id).where(due).order_by(T.c.id).limit(limit)
    if engine.dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    stmt = update(T).where(T.c.id.in_(ids)).values(lease_until=now + lease).returning(*_COLUMNS)
    with engine.begin() as conn:
        rows = list(conn.execute(stmt))
    return sorted(rows, key=lambda r: r.id)


class _Recorder(threading.Thread):
    """Writes outcomes; everything queued while one commit runs goes into the next one."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], notify: NotifySettings):
        super().__init__(name="notify-recorder", daemon=True)
        self.engine, self.clock, self.notify = engine, clock, notify
        self.inbox: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.report = DispatchReport()

    def record(self, outcome: _Outcome) -> None:
        done = threading.Event()
        self.inbox.put((outcome, done))
        done.wait()
        if self.error is not None:
            raise RuntimeError("the dispatcher could not record outcomes") from self.error

    def stop(self) -> None:
        self.inbox.put(None)

    def run(self) -> None:
        stopping = False
        while not stopping:
            item = self.inbox.get()
            if item is None:
                break
            items = [item]
            while True:
                try:
                    nxt = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                items.append(nxt)
            try:
                if self.error is None:
                    self._write([o for o, _ in items])
            except BaseException as exc:
                logger.exception("recording outcomes failed")
                self.error = exc
            for _, done in items:
                done.set()

    def _write(self, outcomes: list[_Outcome]) -> None:
        now = self.clock()
        sent, failed, dead = [], [], []
        n = self.notify
        for o in outcomes:
            if o.error is None:
                sent.append({"_id": o.id, "_attempts": o.attempts + 1, "_at": now})
            elif o.error.permanent or o.attempts + 1 >= n.max_attempts:
                reason = o.error.reason
                if not o.error.permanent:
                    reason = f"gave up after {o.attempts + 1} attempts: {reason}"
                dead.append({"_id": o.id, "_attempts": o.attempts + 1, "_err": reason[:2000]})
            else:
                delay = min(n.backoff_base_seconds * 2**o.attempts, n.backoff_max_seconds)
                failed.append(
                    {
                        "_id": o.id,
                        "_attempts": o.attempts + 1,
                        "_err": o.error.reason[:2000],
                        "_next": now + timedelta(seconds=delay),
                    }
                )
        due = or_(*(T.c.status == s for s in DUE_STATUSES))  # no IN: executemany
        where = and_(T.c.id == bindparam("_id"), due)
        base = update(T).where(where)
        common = {"attempts": bindparam("_attempts"), "lease_until": None}
        with self.engine.begin() as conn:
            if sent:
                conn.execute(base.values(status="sent", sent_at=bindparam("_at"), **common), sent)
            if failed:
                values = {"last_error": bindparam("_err"), "next_attempt_at": bindparam("_next")}
                conn.execute(base.values(status="failed", **values, **common), failed)
            if dead:
                conn.execute(
                    base.values(status="dead", last_error=bindparam("_err"), **common), dead
                )
        self.report.sent += len(sent)
        self.report.retried += len(failed)
        self.report.dead += len(dead)


def dispatch(
    *,
    engine: Engine,
    batch_size: int | None = None,
    concurrency: int | None = None,
    round_key: str | None = None,
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
    notify: NotifySettings | None = None,
    smtp: SmtpSettings | None = None,
) -> DispatchReport:
    """Deliver every message due now, then return. ``now`` pins the clock (tests, replays)."""
    settings = settings or get_settings()
    notify = notify or NotifySettings()
    smtp = smtp or SmtpSettings()
    batch_size = batch_size or notify.batch_size
    concurrency = max(1, concurrency or notify.concurrency)
    clock: Callable[[], datetime] = (lambda: now) if now else (lambda: datetime.now(UTC))
    lease = timedelta(seconds=notify.lease_seconds)
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.Client(
        transport=transport, timeout=notify.webhook_timeout, limits=limits, follow_redirects=False
    )
    delivery = Delivery(settings, notify, smtp, client, clock)
    recorder = _Recorder(engine, clock, notify)
    work: queue.Queue = queue.Queue(maxsize=batch_size)
    abort = threading.Event()

    def worker() -> None:
        channel = delivery.smtp_channel()
        try:
            while (row := work.get()) is not None:
                if abort.is_set():
                    continue  # drain: the lease returns the row to the queue later
                try:
                    delivery.deliver(row, channel)
                    outcome = _Outcome(row.id, row.attempts)
                except DeliveryError as exc:
                    logger.info("message %s: %s", row.id, exc.reason)
                    outcome = _Outcome(row.id, row.attempts, exc)
                try:
                    recorder.record(outcome)
                except RuntimeError:
                    abort.set()
        finally:
            channel.close()

    recorder.start()
    threads = [
        threading.Thread(target=worker, name=f"notify-worker-{i}", daemon=True)
        for i in range(concurrency)
    ]
    for t in threads:
        t.start()
    claimed = 0
    try:
        while not abort.is_set():
            rows = claim(engine, batch_size, clock(), lease, round_key)
            if not rows:
                break
            claimed += len(rows)
            for row in rows:
                work.put(row)
    finally:
        for _ in threads:
            work.put(None)
        for t in threads:
            t.join()
        recorder.stop()
        recorder.join()
        client.close()
    if recorder.error is not None:
        raise RuntimeError("the dispatcher could not record outcomes") from recorder.error
    report = recorder.report
    report.claimed = claimed
    report.elapsed = time.perf_counter() - started
    logger.info(
        "dispatched: %d claimed, %d sent, %d to retry, %d dead in %.2fs",
        claimed, report.sent, report.retried, report.dead, report.elapsed,
    )  # fmt: skip
    return report
