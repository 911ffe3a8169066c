"""The outbox as a queue, on both databases: claim order, leases, and outcomes that only land
on rows still due."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from notifications.channels import DeliveryError
from notifications.dispatch import _Leases, _Outcome, _Recorder, claim
from notifications.messages import Outgoing
from notifications.models import Channel, Notification, NotificationKind
from notifications.outbox import add_messages
from notifications.settings import NotifySettings
from shuangsui.db import make_engine

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def _queue(engine: Engine, n: int) -> list[int]:
    messages = [
        Outgoing(idempotency_key=f"{i:064x}", round_key="R", kind=NotificationKind.assignment,
                 recipient=f"I{i}", channel=Channel.email, address=f"i{i}@b.example.cn",
                 language="zh", subject=f"s{i}", body="b\n")
        for i in range(n)
    ]  # fmt: skip
    with Session(engine) as session:
        add_messages(session, messages, now=T0)
        session.commit()
        return list(session.exec(select(Notification.id).order_by(Notification.id)).all())


def _set(engine: Engine, ids: list[int], **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(update(Notification).where(Notification.id.in_(ids)).values(**values))  # type: ignore[union-attr]


def _rows(engine: Engine) -> dict[int, Notification]:
    with Session(engine) as session:
        return {n.id: n for n in session.exec(select(Notification)).all()}  # type: ignore[misc]


def test_claims_take_the_longest_due_first_and_skip_what_is_leased_or_done(
    engine: Engine,
) -> None:
    ids = _queue(engine, 8)
    # the last two were due earlier (a retry from yesterday); one is not due yet
    _set(engine, ids[6:], next_attempt_at=T0 - timedelta(days=1))
    _set(engine, [ids[5]], next_attempt_at=T0 + timedelta(hours=1))
    _set(engine, [ids[0]], status="sent")
    _set(engine, [ids[1]], status="dead")
    _set(engine, [ids[2]], status="failed", next_attempt_at=T0 - timedelta(hours=1))

    first = claim(engine, 3, T0, LEASE)
    assert [r.id for r in first] == sorted([ids[6], ids[7], ids[2]])
    second = claim(engine, 10, T0, LEASE)
    assert [r.id for r in second] == [ids[3], ids[4]]  # leased rows are skipped; [5] not due
    assert claim(engine, 10, T0, LEASE) == []
    after_lease = claim(engine, 10, T0 + LEASE + timedelta(seconds=1), LEASE)
    assert [r.id for r in after_lease] == sorted([ids[2], ids[3], ids[4], ids[6], ids[7]])
    # what a dispatcher still holds (in flight, not yet recorded) it never claims again itself
    later = T0 + 2 * LEASE + timedelta(seconds=2)
    mine = claim(engine, 10, later, LEASE, held=[ids[3], ids[6]])
    assert [r.id for r in mine] == sorted([ids[2], ids[4], ids[7]])


def _record(engine: Engine, outcomes: list[_Outcome]) -> _Recorder:
    """Each outcome handed over by a worker thread of its own, all at once (in groups of 4),
    then the rest written by ``flush`` as at the end of a dispatch."""
    recorder = _Recorder(engine, lambda: T0, NotifySettings(max_attempts=3, record_batch=4))
    start = threading.Barrier(len(outcomes))

    def worker(outcome: _Outcome) -> None:
        start.wait(10)
        recorder.record(outcome)

    threads = [threading.Thread(target=worker, args=(o,)) for o in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    recorder.flush()
    recorder.close()
    assert recorder.error is None
    return recorder


def _statuses(engine: Engine, ids: list[int]) -> list[str]:
    with Session(engine) as session:  # a connection of its own: sees only what is committed
        return [session.get_one(Notification, i).status for i in ids]


def test_outcomes_are_written_a_group_at_a_time(engine: Engine) -> None:
    """Workers go on sending while their outcomes wait for a group; the hand-over that fills
    the group writes it, in one transaction; ``flush`` writes what is left. (A group that
    does not fill is written after ``hold`` seconds: see the slow-server test.)"""
    ids = _queue(engine, 5)
    assert len(claim(engine, 5, T0, LEASE)) == 5
    recorder = _Recorder(engine, lambda: T0, NotifySettings(record_batch=3), hold=3600)
    recorder.record(_Outcome(ids[0], 0))
    recorder.record(_Outcome(ids[1], 0))
    assert _statuses(engine, ids) == ["pending"] * 5  # handed over, not yet written
    recorder.record(_Outcome(ids[2], 0))  # the group is full: written before this returns
    assert _statuses(engine, ids) == ["sent"] * 3 + ["pending"] * 2
    recorder.record(_Outcome(ids[3], 0))
    recorder.flush()
    recorder.flush()  # nothing left: no empty transaction
    recorder.close()
    assert _statuses(engine, ids) == ["sent"] * 4 + ["pending"]
    assert (recorder.report.sent, recorder.report.commits) == (4, 2)


def test_outcomes_land_only_on_rows_still_due(engine: Engine) -> None:
    ids = _queue(engine, 6)
    rows = claim(engine, 6, T0, LEASE)
    assert len(rows) == 6
    _set(engine, [ids[1]], status="dead", last_error="given up by hand")  # while in flight
    transient = DeliveryError("SMTP 451 try later", permanent=False)
    permanent = DeliveryError("SMTP 550 no such user", permanent=True)
    recorder = _record(engine, [
        _Outcome(ids[0], 0), _Outcome(ids[1], 0), _Outcome(ids[2], 0),
        _Outcome(ids[3], 0, transient), _Outcome(ids[4], 2, transient),
        _Outcome(ids[5], 0, permanent),
    ])  # fmt: skip
    after = _rows(engine)
    assert [after[i].status for i in ids] == ["sent", "dead", "sent", "failed", "dead", "dead"]
    assert after[ids[1]].last_error == "given up by hand"  # the late "sent" did not land
    assert after[ids[0]].attempts == 1 and after[ids[0]].sent_at is not None
    assert after[ids[0]].lease_until is None and after[ids[3]].lease_until is None
    assert after[ids[3]].attempts == 1 and after[ids[3]].last_error == "SMTP 451 try later"
    assert after[ids[3]].next_attempt_at.replace(tzinfo=UTC) > T0
    assert after[ids[4]].last_error == "gave up after 3 attempts: SMTP 451 try later"
    assert after[ids[5]].last_error == "SMTP 550 no such user"
    # the report counts what was written, not what was handed over
    assert (recorder.report.sent, recorder.report.retried, recorder.report.dead) == (2, 1, 2)


def test_a_recorder_that_cannot_write_answers_every_worker(tmp_path: Path) -> None:
    """A database without the outbox table: no worker waits forever for a group nobody can
    write, every hand-over after the failure raises, and the error is kept for the report."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    recorder = _Recorder(engine, lambda: T0, NotifySettings(record_batch=1))
    start = threading.Barrier(4)

    def worker(i: int) -> None:
        start.wait(10)
        with contextlib.suppress(RuntimeError):
            recorder.record(_Outcome(i, 0))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "a worker still waits for its outcome"
    assert "notification" in str(recorder.error)  # no such table
    with pytest.raises(RuntimeError, match="could not record outcomes"):
        recorder.record(_Outcome(5, 0))
    recorder.flush()  # leaves the error where it is
    recorder.close()
    engine.dispose()


def test_a_renewal_never_waits_on_a_row_another_transaction_holds(engine: Engine) -> None:
    """The recorder locks rows across several statements of one transaction: a renewal that
    waited on one of them while the recorder waited on the renewal would deadlock (PostgreSQL
    then fails one of the two). A row locked elsewhere is left for the next renewal; the others
    are renewed at once. SQLite has one writer at a time, and a renewal waits its turn there."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite locks the whole database: a writer waits for the one before")
    ids = _queue(engine, 3)
    claimed = claim(engine, 3, T0, LEASE)
    leases = _Leases(engine, lambda: T0 + timedelta(minutes=1), LEASE)
    leases.hold([r.id for r in claimed], T0 + LEASE, since=time.monotonic())
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("SELECT id FROM notification WHERE id = %s FOR UPDATE", (ids[0],))
        done = threading.Event()
        threading.Thread(target=lambda: (leases.renew(), done.set()), daemon=True).start()
        assert done.wait(10), "the renewal waited on a row another transaction holds"
    finally:
        raw.rollback()
        raw.close()
    after = _rows(engine)
    assert after[ids[0]].lease_until == T0 + LEASE  # left for the next renewal
    assert (
        after[ids[1]].lease_until == after[ids[2]].lease_until == T0 + timedelta(minutes=1) + LEASE
    )
    assert sorted(leases.ids()) == ids  # all still held: the locked one is renewed next turn
