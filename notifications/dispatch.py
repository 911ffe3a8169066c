"""The dispatcher: claims due messages from the outbox and delivers them.

Workers (threads, ``concurrency`` of them) each hold their own connections (an SMTP session
and a webhook transport), reused across their messages. Outcomes are written in groups of
``record_batch``, one transaction each (group commit), while the workers go on sending; at
most two groups wait unwritten. So a crash can repeat at most the messages in flight and those
two groups (``concurrency + 2 * record_batch`` per process, ``processes`` processes when a
backlog brought helpers in), never drop one (a sent message not yet recorded is still leased,
and claimed again when the lease ends), and every repeat carries the same ``Message-ID`` /
``Idempotency-Key`` as its first copy.

Claiming sets a lease (``lease_until``), read in order off the partial due-queue index; on
PostgreSQL the claim also uses ``FOR UPDATE SKIP LOCKED``, so concurrent dispatchers never take
the same message. While a dispatcher works it renews the leases of everything it holds (queued,
in flight, sent and not yet recorded) every quarter lease, so a send slower than the lease, on
a slow server, never lets a second dispatcher claim and send the same message. A message is
only started while its lease was renewed less than half a lease ago; when renewing falls behind
(the database slow or unreachable) the rest goes back to the queue unsent, one a renewal found
in other hands is passed over, and a dispatcher never claims again what it still holds. What is
left is a stall (of the process, or of its database) for most of a lease with a message in
flight or not yet recorded: another dispatcher may then send it too, with the same
``Message-ID``. So may one after a send that hangs: what a dispatcher has held for
``MAX_HOLD_LEASES`` leases is no longer renewed, so that no message waits for ever on a stuck
process.

A channel that cannot be reached (the mail server, a webhook host) is paused by the
:class:`~notifications.breaker.Breaker`: its messages are given back, due when the pause ends,
without spending an attempt (``deferred`` in the report).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlmodel import Session

from notifications import link_key
from notifications.breaker import Breaker
from notifications.channels import DeliveryError
from notifications.delivery import Connections, Delivery
from notifications.models import DUE_PREDICATE, Notification
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.config import Settings, get_settings

if TYPE_CHECKING:
    from notifications.helper import Helper

logger = logging.getLogger(__name__)

T = Notification.__table__  # type: ignore[attr-defined]
DUE_STATUSES = ("pending", "failed")  # as in DUE_PREDICATE
MAX_HOLD_LEASES = 4  # a message held this long is no longer renewed: its send hangs
DISPATCHER = "a dispatcher, at its first claim"  # who records a key when none is (link_key)
_COLUMNS = (
    T.c.id, T.c.idempotency_key, T.c.round_key, T.c.kind, T.c.recipient, T.c.channel,
    T.c.address, T.c.subject, T.c.body, T.c.payload, T.c.attempts, T.c.created_at,
)  # fmt: skip


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0  # transient failure, scheduled again
    deferred: int = 0  # its channel is down: given back, no attempt spent
    dead: int = 0
    commits: int = 0  # outcome groups written (each one transaction)
    released: int = 0  # claimed but given back unsent: renewing their lease fell behind
    lost: int = 0  # claimed, then found leased by another or done by hand: not sent by us
    processes: int = 1
    elapsed: float = 0.0

    def add(self, other: DispatchReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.deferred += other.deferred
        self.dead += other.dead
        self.commits += other.commits
        self.released += other.released
        self.lost += other.lost

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0


@dataclass(frozen=True)
class _Outcome:
    id: int
    attempts: int  # attempts before this one
    error: DeliveryError | None = None
    defer_until: datetime | None = None  # the channel is paused: no attempt spent


def _due_ids(now: datetime, round_key: str | None, limit: int, held: Collection[int] = ()):  # type: ignore[no-untyped-def]
    """The ids of up to ``limit`` messages due now and not leased (nor ``held`` by us), the
    longest due first (read in order off the partial index ``ix_notification_due_queue``)."""
    due = and_(
        text(DUE_PREDICATE),  # literally the index's predicate, so SQLite can use it
        T.c.next_attempt_at <= now,
        or_(T.c.lease_until.is_(None), T.c.lease_until < now),
    )
    if round_key:
        due = and_(due, T.c.round_key == round_key)
    if held:
        due = and_(due, T.c.id.not_in(held))
    return select(T.c.id).where(due).order_by(T.c.next_attempt_at, T.c.id).limit(limit)


def backlog(engine: Engine, now: datetime, round_key: str | None, up_to: int) -> int:
    """How many messages are due and not leased, counted up to ``up_to``."""
    stmt = select(func.count()).select_from(_due_ids(now, round_key, up_to).subquery())
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def claim(engine: Engine, limit: int, now: datetime, lease: timedelta, round_key=None,  # type: ignore[no-untyped-def]
          held: Collection[int] = (), secret: str | None = None):  # fmt: skip
    """Lease up to ``limit`` due messages in one statement, the longest due first; return their
    rows by id. ``held``: ids this dispatcher still holds (in flight, or sent and not yet
    recorded, under a lease that may have run out while the database stalled): never taken
    again by their own holder. ``secret`` (the key links are made under; every dispatcher
    gives it): checked first against the key recorded (``link_key.check``: another one, and
    nothing is claimed, :class:`~notifications.link_key.StaleKey`), and what the claim took is
    followed before it is returned (:func:`_followed`)."""
    ids = _due_ids(now, round_key, limit, held)
    if engine.dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    stmt = update(T).where(T.c.id.in_(ids)).values(lease_until=now + lease).returning(*_COLUMNS)
    follows: list[int] = []
    with engine.begin() as conn:
        if secret is not None:
            link_key.check(conn, link_key.fingerprint(secret), who=DISPATCHER)
        rows = list(conn.execute(stmt))
        if secret is not None and rows:
            follows = _to_follow(conn, rows, secret)
    if follows:
        assert secret is not None
        rows = _followed(engine, rows, follows, now + lease, secret)
    return sorted(rows, key=lambda r: r.id)


def _claim_said(*args: Any, **kw: Any) -> list:
    """:func:`claim`; a stale key (nothing claimed) said in one log line before it stops the
    dispatcher."""
    try:
        return claim(*args, **kw)
    except link_key.StaleKey as exc:
        logger.error("%s; claimed nothing", exc)
        raise


def _to_follow(conn: Connection, rows: list, secret: str) -> list[int]:
    """Of ``rows``, just claimed on ``conn``, those ``follow.to_follow`` names (two reads;
    none, nearly always)."""
    from notifications import follow  # follow reads the registry and the relink's modules

    return follow.to_follow(Session(bind=conn, join_transaction_mode="rollback_only"), rows,
                            secret)  # fmt: skip


def _followed(engine: Engine, rows: list, ids: list[int], lease_until: datetime,
              secret: str) -> list:  # fmt: skip
    """``rows``, claimed (committed, leased until ``lease_until``), as they must leave: a
    message held by a dispatcher that stopped before recording its outcome (its lease run
    out) while the member's link was ended or given again, or their address corrected, is
    taken as it stood, and nothing else would look at it again before it goes. Those of
    ``ids`` still under our lease are given back, followed (``follow.follow``: withdrawn, or
    written again with the current link and address) and what is left of them claimed again
    as it is now, in one transaction. Should following fail, they go as claimed (logged).

    Not in the claim's transaction, and one dispatcher at a time (``follow.one_at_a_time``):
    following writes every waiting message of the member on the check, and two claims
    following the same members at once each waited on rows the other had just claimed and
    held locked, a deadlock PostgreSQL ended by failing one of them, whose messages then went
    with the dead link. A claim committed first holds no lock while it waits for its turn,
    and a claim never waits on one that follows (``SKIP LOCKED``)."""
    from notifications import follow

    try:
        with engine.begin() as conn:
            follow.one_at_a_time(conn)
            mine = list(conn.scalars(_GIVE_BACK, {"ids": ids, "_until": lease_until}))
            session = Session(bind=conn, join_transaction_mode="rollback_only")
            follow.follow(session, mine, secret, claimed=True)
            session.flush()
            again = list(conn.execute(_CLAIM_AGAIN, {"ids": mine, "_until": lease_until}))
    except Exception:
        logger.exception("following claimed messages %s failed: sent as they stand", ids[:20])
        return rows
    followed = set(mine)
    return [r for r in rows if r.id not in followed] + again


# Outcome updates, built once. A row is only updated while still due, so a late outcome never
# overwrites a later attempt's result. Sent messages (nearly all) go in one statement per group;
# failures carry their own error and next attempt, so they go row by row (executemany).
# ``status = .. OR status = ..``, not IN: SQLite would pick an index for "status IN" and scan
# every due row, where this keeps it on the primary key.
_STILL_DUE = or_(*(T.c.status == s for s in DUE_STATUSES))
_MARK_SENT = (
    update(T)
    .where(and_(T.c.id.in_(bindparam("ids", expanding=True)), _STILL_DUE))
    .values(status="sent", attempts=T.c.attempts + 1, sent_at=bindparam("at"), lease_until=None)
)
_GIVE_BACK = (
    update(T)
    .where(T.c.id.in_(bindparam("ids", expanding=True)), T.c.lease_until == bindparam("_until"))
    .values(lease_until=None)
    .returning(T.c.id)
)
_CLAIM_AGAIN = (
    update(T)
    .where(T.c.id.in_(bindparam("ids", expanding=True)), T.c.lease_until.is_(None), _STILL_DUE)
    .values(lease_until=bindparam("_until"))
    .returning(*_COLUMNS)
)
_BY_ID_WHILE_DUE = update(T).where(and_(T.c.id == bindparam("_id"), _STILL_DUE))
_COMMON: dict[str, Any] = {"attempts": bindparam("_attempts"), "lease_until": None}
_MARK_FAILED = _BY_ID_WHILE_DUE.values(
    status="failed", last_error=bindparam("_err"), next_attempt_at=bindparam("_next"), **_COMMON
)
_MARK_DEAD = _BY_ID_WHILE_DUE.values(status="dead", last_error=bindparam("_err"), **_COMMON)
_MARK_DEFERRED = _BY_ID_WHILE_DUE.values(
    last_error=bindparam("_err"), next_attempt_at=bindparam("_next"), lease_until=None
)


def _written(result: CursorResult, handed: int) -> int:
    """Rows an UPDATE changed (``handed`` where the driver cannot tell)."""
    count = result.rowcount
    return count if count is not None and count >= 0 else handed


class _Recorder:
    """Writes outcomes in groups (group commit) on one connection.

    A worker hands its outcome over and goes on to its next message. The hand-over that makes
    ``record_batch`` outcomes wait writes them in one transaction, and the groups that came
    due meanwhile, while the other workers keep sending; a hand-over that finds a full group
    already waiting waits for the write in progress. A group that has not filled within
    ``hold`` seconds (a slow server, the last messages of a run) is written by a watcher
    thread, well before the leases of its rows run out.

    So at most two groups (``2 * record_batch`` outcomes) are sent and not yet committed, and
    a crash repeats at most those and the messages in flight, each with its idempotency key.
    :meth:`flush` writes what is left when the workers are done. Once a group is committed,
    its messages that wait again (to be retried, or their channel paused) are handed to
    ``failed``: a message held while the member's address was corrected or their link ended
    follows (``notifications.follow``).

    A transaction per message cost the dispatcher more CPU than anything else it does beside
    httpx (0.13-0.17 ms per message on SQLite, docs/benchmarks.md "Notifications"); a group
    of 16 costs little more than one."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], notify: NotifySettings,
                 *, hold: float | None = None,
                 written: Callable[[list[int]], None] = lambda ids: None,
                 failed: Callable[[list[int]], None] = lambda ids: None) -> None:  # fmt: skip
        self.engine, self.clock, self.notify = engine, clock, notify
        self.written = written  # told the ids of each group once it is committed
        self.failed = failed  # then the ids of its messages waiting again (notifications.follow)
        self.batch = notify.record_batch
        self.hold = hold if hold is not None else min(1.0, notify.lease_seconds / 10)
        self.error: BaseException | None = None
        self.report = DispatchReport()
        self._cond = threading.Condition()
        self._waiting: list[_Outcome] = []  # handed over, not yet taken into a group
        self._oldest = 0.0  # when the first of them was handed over (time.monotonic)
        self._writing = False  # a thread is writing a group
        self._closed = False
        self._conn: Connection | None = None  # opened by the first group, used by one at a time
        self._watcher = threading.Thread(target=self._watch, name="notify-recorder", daemon=True)
        self._watcher.start()

    def record(self, outcome: _Outcome) -> None:
        """Hand ``outcome`` over; write the group if that made it due."""
        with self._cond:
            while self._writing and len(self._waiting) >= self.batch:
                self._cond.wait()  # back-pressure: the unwritten outcomes stay bounded
            if not self._waiting:
                self._oldest = time.monotonic()
            self._waiting.append(outcome)
            group = self._take() if not self._writing and self._due() else []
        self._write_groups(group)
        if self.error is not None:
            raise RuntimeError("the dispatcher could not record outcomes") from self.error

    def flush(self) -> None:
        """Write every outcome handed over so far (a failure is left in ``error``)."""
        with self._cond:
            while self._writing:
                self._cond.wait()
            group = self._take()
        self._write_groups(group)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._watcher.join()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _watch(self) -> None:
        """Write a group that has waited ``hold`` seconds for the rest of its outcomes."""
        while True:
            with self._cond:
                if self._closed:
                    return
                self._cond.wait(self.hold)
                group = self._take() if not self._writing and self._due() else []
            self._write_groups(group)

    def _due(self) -> bool:  # with self._cond held
        return len(self._waiting) >= self.batch or (
            bool(self._waiting) and time.monotonic() - self._oldest >= self.hold
        )

    def _take(self) -> list[_Outcome]:  # with self._cond held
        group, self._waiting = self._waiting, []
        self._writing = bool(group)
        return group

    def _write_groups(self, group: list[_Outcome]) -> None:
        """Write ``group``, then every group that came due meanwhile."""
        while group:
            try:
                if self.error is None:  # after a failure, every later hand-over hears of it
                    if self._conn is None:  # one connection for all groups
                        self._conn = self.engine.connect()
                    self._write(self._conn, group)
            except BaseException as exc:
                logger.exception("recording outcomes failed")
                self.error = exc
            with self._cond:
                self._writing = False
                group = self._take() if self._due() else []
                self._cond.notify_all()

    def _write(self, conn: Connection, outcomes: list[_Outcome]) -> None:
        now = self.clock()
        sent: list[int] = []
        failed, dead, deferred = [], [], []
        again: list[int] = []  # deferred or to be retried: waiting again
        n = self.notify
        for o in outcomes:
            if o.defer_until is not None:
                again.append(o.id)
                reason = o.error.reason if o.error else "channel paused"
                deferred.append({"_id": o.id, "_err": reason[:2000], "_next": o.defer_until})
            elif o.error is None:
                sent.append(o.id)
            elif o.error.permanent or o.attempts + 1 >= n.max_attempts:
                reason = o.error.reason
                if not o.error.permanent:
                    reason = f"gave up after {o.attempts + 1} attempts: {reason}"
                dead.append({"_id": o.id, "_attempts": o.attempts + 1, "_err": reason[:2000]})
            else:
                again.append(o.id)
                delay = min(n.backoff_base_seconds * 2**o.attempts, n.backoff_max_seconds)
                failed.append(
                    {
                        "_id": o.id,
                        "_attempts": o.attempts + 1,
                        "_err": o.error.reason[:2000],
                        "_next": now + timedelta(seconds=delay),
                    }
                )
        # counted as written: a row no longer due (given up by hand meanwhile) is left alone
        n_sent = n_failed = n_dead = n_deferred = 0
        with conn.begin():
            if deferred:
                n_deferred = _written(conn.execute(_MARK_DEFERRED, deferred), len(deferred))
            if sent:
                n_sent = _written(conn.execute(_MARK_SENT, {"ids": sent, "at": now}), len(sent))
            if failed:
                n_failed = _written(conn.execute(_MARK_FAILED, failed), len(failed))
            if dead:
                n_dead = _written(conn.execute(_MARK_DEAD, dead), len(dead))
        self.written([o.id for o in outcomes])
        if again:
            self.failed(again)
        self.report.commits += 1
        self.report.sent += n_sent
        self.report.retried += n_failed
        self.report.deferred += n_deferred
        self.report.dead += n_dead


class _Held(NamedTuple):
    lease_until: datetime  # the lease we set last
    renewed: float  # when we set it (time.monotonic, taken before the statement)
    claimed: float  # when its claim began (time.monotonic)


class _Leases:
    """The leases this process holds, renewed by a keeper thread every quarter lease until
    :meth:`close`. A row is held from its claim until its outcome is committed or it is given
    back. A renewal moves ``lease_until`` of what is still held, and still the lease we set, to
    a lease from now; a row it finds otherwise (its lease ran out while renewing was behind and
    another dispatcher claimed it, or it was given up by hand) is no longer held.

    A row held for ``MAX_HOLD_LEASES`` leases is no longer renewed: a send that hangs (a
    process stuck, not dead) must not keep its message from every other dispatcher for ever.
    Its lease runs out and another dispatcher sends it, with the same ``Message-ID``.

    Renewing and giving back take turns, so a row is never given back under a lease a renewal
    has just replaced (which would leave it leased to nobody until that lease ran out).

    Each renewal checks the process's key (``key``, a fingerprint) against the one recorded:
    another one recorded since (a rotation's relink), ``stale`` says so, nothing more is
    renewed, and the feed gives back what it has not started (:class:`_Feed`)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], lease: timedelta,
                 key: str | None = None) -> None:  # fmt: skip
        self.engine, self.clock, self.lease, self.key = engine, clock, lease, key
        self.stale: link_key.StaleKey | None = None
        self._fresh_for = lease.total_seconds() / 2
        self._every = lease.total_seconds() / 4
        self._max_hold = lease.total_seconds() * MAX_HOLD_LEASES
        self._held: dict[int, _Held] = {}
        self._lock = threading.Lock()  # guards _held
        self._turn = threading.Lock()  # one renewal or give-back at a time
        self._closed = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name="notify-leases", daemon=True)

    def start(self) -> None:
        """Renew now what was claimed a quarter lease ago or more (the first batch, claimed
        before helper processes started), then every quarter lease."""
        with self._lock:
            oldest = min((h.renewed for h in self._held.values()), default=time.monotonic())
        if time.monotonic() - oldest >= self._every:
            self.renew()
        self._keeper.start()

    def hold(self, ids: list[int], lease_until: datetime, since: float) -> None:
        """Hold ``ids``, leased until ``lease_until`` by a claim begun at ``since``
        (``time.monotonic``)."""
        with self._lock:
            self._held.update(dict.fromkeys(ids, _Held(lease_until, since, since)))

    def done(self, ids: list[int]) -> None:
        """``ids`` are recorded: their leases are cleared and no longer ours to renew."""
        with self._lock:
            for i in ids:
                self._held.pop(i, None)

    def ids(self) -> list[int]:
        with self._lock:
            return list(self._held)

    def fresh(self, row_id: int) -> bool | None:
        """Whether ``row_id`` may be started: its lease was renewed less than half a lease ago
        (``False``: renewing is behind; ``None``: it is not ours any more)."""
        with self._lock:
            held = self._held.get(row_id)
        if held is None:
            return None
        return time.monotonic() - held.renewed < self._fresh_for

    def give_back(self, ids: list[int]) -> int:
        """Return ``ids`` to the queue unsent; how many were still ours to give."""
        with self._turn:
            with self._lock:
                by_lease = _by_lease({i: self._held.pop(i) for i in ids if i in self._held})
            for until, group in by_lease.items():
                release(self.engine, group, until)
        return sum(map(len, by_lease.values()))

    def renew(self) -> None:
        """Renew the lease of everything held (but what was held too long), in one
        transaction."""
        with self._turn:
            since, new = time.monotonic(), self.clock() + self.lease
            with self._lock:
                too_long = [i for i, h in self._held.items() if since - h.claimed >= self._max_hold]
                for i in too_long:
                    del self._held[i]
                by_lease = _by_lease(self._held)
            if too_long:
                logger.warning(
                    "message(s) %s held for %d leases, a send that hangs: no longer renewed; "
                    "another dispatcher sends them when their lease runs out",
                    too_long, MAX_HOLD_LEASES,
                )  # fmt: skip
            if not by_lease or self.stale is not None:
                return
            kept: set[int] = set()
            with self.engine.begin() as conn:
                if self.key is not None:
                    try:
                        link_key.check(conn, self.key, who=DISPATCHER)
                    except link_key.StaleKey as exc:
                        self.stale = exc
                        return
                busy = _locked_by_others(conn, [i for ids in by_lease.values() for i in ids])
                for old, ids in by_lease.items():
                    free = [i for i in ids if i not in busy]
                    kept.update(conn.scalars(_RENEW, {"ids": free, "_old": old, "_new": new}))
            with self._lock:
                for old, ids in by_lease.items():
                    for i in ids:
                        held = self._held.get(i)
                        if held is None or held.lease_until != old or i in busy:
                            continue  # recorded meanwhile, or renewed next turn
                        if i in kept:
                            self._held[i] = held._replace(lease_until=new, renewed=since)
                        else:
                            del self._held[i]

    def close(self) -> None:
        self._closed.set()
        if self._keeper.is_alive():
            self._keeper.join()

    def _keep(self) -> None:
        while not self._closed.wait(self._every):
            try:
                self.renew()
            except Exception:  # the next turn tries again; meanwhile rows go stale, unsent
                logger.exception("renewing the dispatcher's leases failed")


def _locked_by_others(conn: Connection, ids: list[int]) -> set[int]:
    """Of ``ids``, those another transaction holds locked now (PostgreSQL; SQLite locks the
    whole database, and a writer there waits its turn). A renewal locks what it renews with
    ``SKIP LOCKED`` first and leaves the rest, never waiting: the recorder's transaction locks
    rows across several statements in its own order, and a renewal waiting on it while it
    waits on the renewal would be a deadlock that PostgreSQL resolves by failing one of them."""
    if conn.dialect.name != "postgresql":
        return set()
    mine = select(T.c.id).where(T.c.id.in_(ids)).with_for_update(skip_locked=True)
    return set(ids) - set(conn.scalars(mine))


def _by_lease(held: dict[int, _Held]) -> dict[datetime, list[int]]:
    out: dict[datetime, list[int]] = {}
    for i, h in held.items():
        out.setdefault(h.lease_until, []).append(i)
    return out


_RENEW = (
    update(T)
    .where(
        T.c.id.in_(bindparam("ids", expanding=True)),
        T.c.lease_until == bindparam("_old"),
        _STILL_DUE,
    )
    .values(lease_until=bindparam("_new"))
    .returning(T.c.id)
)


class _Feed:
    """The claimed rows, shared by the workers. A worker that finds it empty claims the next
    batch (one claim at a time); the others keep sending meanwhile. No producer thread and no
    queue: taking a row is one ``deque.popleft``.

    A row is only started while its lease is fresh (:meth:`_Leases.fresh`). When renewing has
    fallen behind, the row and the rest of the queue go back unsent: once a lease ran out
    another dispatcher could take the row, and both would send it."""

    def __init__(self, claim_batch: Callable[[], list], leases: _Leases, first: list) -> None:
        self._claim, self._leases = claim_batch, leases
        self._rows: deque = deque(first)
        self._lock = threading.Lock()  # one claim at a time
        self._counting = threading.Lock()
        self._stopped = not first
        self.claimed, self.released, self.lost = len(first), 0, 0
        self.error: BaseException | None = None

    def next(self):  # type: ignore[no-untyped-def]
        while not self._stopped:
            if (stale := self._leases.stale) is not None:
                self._give_back_all(stale)
                break
            try:
                row = self._rows.popleft()
            except IndexError:
                pass
            else:
                fresh = self._leases.fresh(row.id)
                if fresh:
                    return row
                if fresh is None:
                    self._count(lost=1)
                else:
                    self._give_back(row)
                continue
            with self._lock:
                if self._rows or self._stopped:
                    continue
                rows = self._claim()
                if not rows:
                    self._stopped = True
                    break
                self.claimed += len(rows)
                self._rows.extend(rows)
        return None

    def _give_back(self, row) -> None:  # type: ignore[no-untyped-def]
        n = self._give_back_queued([row.id])
        logger.info("released %d message(s): renewing their leases fell behind", n)

    def _give_back_queued(self, ids: list[int]) -> int:
        while True:  # the rest of the queue was renewed no later: give it all back at once
            try:
                ids.append(self._rows.popleft().id)
            except IndexError:
                break
        n = self._leases.give_back(ids)
        self._count(released=n, lost=len(ids) - n)
        return n

    def _give_back_all(self, stale: link_key.StaleKey) -> None:
        """The key was rotated while this process held rows: none not started is sent."""
        with self._lock:  # no claim meanwhile
            n = self._give_back_queued([])
            if self.error is None:
                logger.error("%s; gave back %d message(s) claimed, unsent", stale, n)
            self.fail(stale)

    def _count(self, released: int = 0, lost: int = 0) -> None:
        with self._counting:  # workers count at once
            self.released += released
            self.lost += lost

    def stop(self) -> None:
        self._stopped = True

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._stopped = True


def release(engine: Engine, ids: list[int], lease_until: datetime) -> None:
    """Give leased rows back to the queue now (only if the lease is still the one we hold)."""
    stmt = (
        update(T)
        .where(T.c.id.in_(ids), T.c.lease_until == lease_until, _STILL_DUE)
        .values(lease_until=None)
    )
    with engine.begin() as conn:
        conn.execute(stmt)


def dispatch(
    *,
    engine: Engine,
    batch_size: int | None = None,
    concurrency: int | None = None,
    processes: int | None = None,
    round_key: str | None = None,
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
    notify: NotifySettings | None = None,
    smtp: SmtpSettings | None = None,
) -> DispatchReport:
    """Deliver every message due now, then return. ``now`` pins the clock (tests, replays).

    ``concurrency`` workers per process; with ``processes`` > 1 and a backlog of at least
    ``notify.helper_min_backlog`` due messages, helper processes (``python -m
    notifications.helper``) claim from the same outbox alongside this one, so delivery is not
    bound to one interpreter's GIL (a smaller backlog is over before a helper has started). At
    most ``processes * concurrency`` messages are ever in flight.
    """
    settings = settings or get_settings()
    notify = notify or NotifySettings()
    smtp = smtp or SmtpSettings()
    batch_size = batch_size or notify.batch_size
    concurrency = max(1, concurrency or notify.concurrency)
    processes = max(1, processes or notify.processes)
    clock: Callable[[], datetime] = (lambda: now) if now else (lambda: datetime.now(UTC))
    lease = timedelta(seconds=notify.lease_seconds)
    started = time.perf_counter()
    first_at, first_claimed = clock(), time.monotonic()
    secret = settings.secret_key.get_secret_value()
    first = _claim_said(engine, batch_size, first_at, lease, round_key, secret=secret)
    helpers: list[Helper] = []
    if (
        processes > 1
        and transport is None
        and len(first) == batch_size
        and len(first) + backlog(engine, first_at, round_key, notify.helper_min_backlog)
        >= notify.helper_min_backlog
    ):  # a helper only pays for its start on a large backlog
        from notifications.helper import start_helpers

        helpers = start_helpers(
            processes - 1, engine=engine, batch_size=batch_size, concurrency=concurrency,
            round_key=round_key, now=now, settings=settings, notify=notify, smtp=smtp,
        )  # fmt: skip
    try:
        report = run_workers(
            engine=engine, first=first, first_lease_until=first_at + lease,
            first_claimed=first_claimed, batch_size=batch_size, concurrency=concurrency,
            round_key=round_key, clock=clock, lease=lease, transport=transport,
            settings=settings, notify=notify, smtp=smtp,
        )  # fmt: skip
    except BaseException:  # this process's own error is the one raised
        for exc in _waited(helpers)[1]:
            if not isinstance(exc, link_key.StaleKey):  # a stale key is said once
                logger.error("%s", exc)
        raise
    reports, failed = _waited(helpers)
    if failed:
        raise failed[0]
    for other in reports:
        report.add(other)
    report.processes = 1 + len(helpers)
    report.elapsed = time.perf_counter() - started
    logger.info(
        "dispatched: %d claimed, %d sent, %d to retry, %d waiting for their channel, %d dead "
        "in %.2fs (%d process(es))",
        report.claimed, report.sent, report.retried, report.deferred, report.dead,
        report.elapsed, report.processes,
    )  # fmt: skip
    return report


def _waited(helpers: list[Helper]) -> tuple[list[DispatchReport], list[Exception]]:
    """Each helper's report, or its failure, once every helper has stopped. A helper's stale
    key comes back as :class:`~notifications.link_key.StaleKey` (``Helper.wait``), said as
    this process's own: one line, exit 2 (it was a ``RuntimeError`` naming the helper, and
    one raised while this process stopped on its own stale key took that one's place)."""
    reports: list[DispatchReport] = []
    failed: list[Exception] = []
    for h in helpers:
        try:
            reports.append(h.wait())
        except Exception as exc:
            failed.append(exc)
    return reports, failed


def _deliver(row, delivery: Delivery, conns: Connections, breaker: Breaker) -> _Outcome:  # type: ignore[no-untyped-def]
    """One message's outcome; a paused or unreachable channel defers it, attempt unspent."""
    key = delivery.channel_key(row)
    if key is not None and (until := breaker.paused_until(key)) is not None:
        return _Outcome(row.id, row.attempts, defer_until=until)
    try:
        delivery.deliver(row, conns)
    except DeliveryError as exc:
        logger.info("message %s: %s", row.id, exc.reason)
        if exc.outage and key is not None:
            return _Outcome(row.id, row.attempts, exc, breaker.trip(key, exc.reason))
        return _Outcome(row.id, row.attempts, exc)
    if key is not None:
        breaker.cleared(key)
    return _Outcome(row.id, row.attempts)


def run_workers(
    *,
    engine: Engine,
    first: list,
    first_lease_until: datetime,
    first_claimed: float,
    batch_size: int,
    concurrency: int,
    round_key: str | None,
    clock: Callable[[], datetime],
    lease: timedelta,
    transport: httpx.BaseTransport | None,
    settings: Settings,
    notify: NotifySettings,
    smtp: SmtpSettings,
    keep_going: Callable[[], bool] = lambda: True,
) -> DispatchReport:
    """This process's share: ``concurrency`` workers until nothing due is left to claim (or
    ``keep_going`` says stop, checked before each claim). ``first`` is a batch already
    claimed, leased until ``first_lease_until`` by a claim begun at ``first_claimed``
    (``time.monotonic``)."""
    started = time.perf_counter()
    delivery = Delivery(settings, notify, smtp, clock, transport)
    breaker = Breaker(engine, clock, notify, settings)
    secret = settings.secret_key.get_secret_value()
    leases = _Leases(engine, clock, lease, link_key.fingerprint(secret))
    leases.hold([r.id for r in first], first_lease_until, first_claimed)
    leases.start()

    def follow(ids: list[int]) -> None:
        from notifications.follow import after_failures  # the relink's and registry's modules

        after_failures(engine, ids, secret)

    recorder = _Recorder(engine, clock, notify, written=leases.done, failed=follow)

    def next_batch() -> list:
        if not keep_going():
            return []
        at, since = clock(), time.monotonic()
        rows = _claim_said(engine, batch_size, at, lease, round_key, held=leases.ids(),
                           secret=secret)  # fmt: skip
        leases.hold([r.id for r in rows], at + lease, since)
        return rows

    feed = _Feed(next_batch, leases, first)

    def worker() -> None:
        conns = delivery.connections()
        try:
            while (row := feed.next()) is not None:
                outcome = _deliver(row, delivery, conns, breaker)
                try:
                    recorder.record(outcome)
                except RuntimeError:
                    feed.stop()  # the rows still queued keep their lease and come back later
        except BaseException as exc:
            feed.fail(exc)
        finally:
            conns.close()

    threads = [
        threading.Thread(target=worker, name=f"notify-worker-{i}", daemon=True)
        for i in range(concurrency)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    finally:
        feed.stop()
        for t in threads:
            t.join()
        recorder.flush()  # the last outcomes the workers handed over
        recorder.close()
        leases.close()  # what is still held (a failure) keeps its lease until it runs out
    if feed.error is not None:
        raise feed.error
    if recorder.error is not None:
        raise RuntimeError("the dispatcher could not record outcomes") from recorder.error
    report = recorder.report
    report.claimed = feed.claimed
    report.released = feed.released
    report.lost = feed.lost
    report.elapsed = time.perf_counter() - started
    return report
