"""kill -9 of a real dispatcher process mid-batch, then a re-run; and two dispatchers at once."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, select

from notifications.dispatch import MAX_HOLD_LEASES, claim, dispatch, run_workers
from notifications.models import Notification
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.config import get_settings
from shuangsui.db import session_scope
from tests.notifications.factory import TODAY, make_round
from tests.notifications.servers import SinkHandler, SmtpSink

ROOT = Path(__file__).resolve().parents[2]
T = Notification.__table__  # type: ignore[attr-defined]
CONCURRENCY = 4
RECORD_BATCH = 2  # outcomes per transaction: two such groups may be lost with a process


def _command() -> list[str]:
    if importlib.util.find_spec("registry.cli") is not None:
        return [sys.executable, "-m", "shuangsui", "notifications", "dispatch"]
    # until the registry group exists, mount the notifications group on its own
    code = (
        "from shuangsui.cli import app; from notifications.cli import app as n; "
        "app.add_typer(n, name='notifications'); app()"
    )
    return [sys.executable, "-c", code, "notifications", "dispatch"]


def _enqueue(engine: Engine, enterprises: int) -> set[str]:
    from notifications.outbox import enqueue_round_assignments

    world = make_round(engine, enterprises=enterprises)
    with session_scope(engine) as session:
        enqueue_round_assignments(
            session=session, round_key=world.round_key, today=TODAY, summary=False
        )
    with Session(engine) as s:
        return {f"<{k}@shuangsui>" for k in s.exec(select(Notification.idempotency_key))}


def _helpers_of(home: Path) -> list[int]:
    """Running dispatcher helper processes started for this test (found by their home)."""
    marker = f"SHUANGSUI_HOME={home}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if b"notifications.helper" in cmdline and marker in environ.split(b"\0") and state != "Z":
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_kill_9_mid_batch_then_rerun(
    engine: Engine, db_url: str, tmp_path: Path, processes: int
) -> None:
    """Repeats are bounded by what each process had in flight or not yet written (concurrency
    + two groups of outcomes), and a helper whose parent was killed finishes what it holds
    and stops: no orphan keeps claiming."""
    expected = _enqueue(engine, enterprises=40)  # 80 messages
    sink = SmtpSink(SinkHandler(delay=0.03)).start()
    home = tmp_path / "home"
    env = {
        **os.environ,
        "SHUANGSUI_DATABASE_URL": db_url,
        "SHUANGSUI_HOME": str(home),
        "SHUANGSUI_ENVIRONMENT": "test",
        "SHUANGSUI_SMTP_PORT": str(sink.port),
        "SHUANGSUI_NOTIFY_CHANNEL": "live",
        "SHUANGSUI_NOTIFY_CONCURRENCY": str(CONCURRENCY),
        "SHUANGSUI_NOTIFY_RECORD_BATCH": str(RECORD_BATCH),
        "SHUANGSUI_NOTIFY_PROCESSES": str(processes),
        "SHUANGSUI_NOTIFY_HELPER_MIN_BACKLOG": "0",  # helpers even for these 80 messages
        "SHUANGSUI_NOTIFY_BATCH_SIZE": "10",
        "SHUANGSUI_NOTIFY_LEASE_SECONDS": "2",
        "PYTHONPATH": str(ROOT),
    }
    try:
        log = tmp_path / "first-run.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(_command(), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=err)  # fmt: skip
        deadline = time.monotonic() + 60
        while len(sink.handler.received) < 20:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the dispatcher sent nothing"
            time.sleep(0.01)
        helpers = _helpers_of(home)
        assert len(helpers) == processes - 1, f"helpers running: {helpers}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        first_run = len(sink.handler.received)
        assert first_run < len(expected), "killed too late to prove anything"
        deadline = time.monotonic() + 30
        while _helpers_of(home):  # orphaned helpers stop at their next claim
            assert time.monotonic() < deadline, "a helper outlived its dispatcher"
            time.sleep(0.05)
        assert len(sink.handler.received) < len(expected), "the orphan kept claiming"
        time.sleep(2.5)  # the dead dispatcher's leases expire
        rerun = subprocess.run(_command(), cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr.decode()
    finally:
        sink.stop()
    copies = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    assert set(copies) == expected, "every message arrives"
    repeats = sum(n - 1 for n in copies.values())
    bound = processes * (CONCURRENCY + 2 * RECORD_BATCH)  # in flight + two unwritten groups
    assert repeats <= bound, f"{repeats} repeats > {bound}"
    by_id: dict[str, list] = {}
    for r in sink.handler.received:
        by_id.setdefault(str(r.message["Message-ID"]), []).append(r)
    for copies_of in by_id.values():  # a repeat is the same message, same Message-ID
        assert len({c.message.get_content() for c in copies_of}) == 1
    with Session(engine) as s:
        statuses = Counter(n.status for n in s.exec(select(Notification)))
    assert statuses == {"sent": len(expected)}


def _two_dispatchers(engine: Engine, notify: NotifySettings, smtp: SmtpSettings, *,
                     concurrency: int, stagger: float = 0.0) -> list:  # fmt: skip
    """Two dispatchers at once (threads of this process), the second ``stagger`` s later."""
    reports: list = []
    threads = [
        threading.Thread(target=lambda: reports.append(
            dispatch(engine=engine, notify=notify, smtp=smtp, concurrency=concurrency)))
        for _ in range(2)
    ]  # fmt: skip
    for t in threads:
        t.start()
        time.sleep(stagger)
    for t in threads:
        t.join(60)
    return reports


def test_two_dispatchers_never_send_the_same_message(engine: Engine) -> None:
    expected = _enqueue(engine, enterprises=30)
    sink = SmtpSink(SinkHandler(delay=0.005)).start()
    notify = NotifySettings(channel="live", batch_size=5)
    smtp = SmtpSettings(port=sink.port)
    try:
        reports = _two_dispatchers(engine, notify, smtp, concurrency=2)
    finally:
        sink.stop()
    copies = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    assert set(copies) == expected and set(copies.values()) == {1}
    assert sum(r.sent for r in reports) == len(expected)


LEASE = 1.0  # seconds: the lease tests' own, short enough for a send to outlast


class _SlowFirst(NamedTuple):
    expected: set[str]  # the queued messages' Message-IDs
    sink: SmtpSink
    notify: NotifySettings
    smtp: SmtpSettings


def _first_send_takes(engine: Engine, leases: float) -> _SlowFirst:
    """12 messages queued; a running sink whose first message takes ``leases`` leases to
    accept (the others 20 ms); settings for dispatchers claiming 8 at a time under LEASE."""
    expected = _enqueue(engine, enterprises=6)
    sink = SmtpSink(SinkHandler(delay=0.02, first_delays=(leases * LEASE,))).start()
    notify = NotifySettings(channel="live", batch_size=8, lease_seconds=LEASE, processes=1)
    return _SlowFirst(expected, sink, notify, SmtpSettings(port=sink.port))


def _dispatch_in_background(
    engine: Engine, slow: _SlowFirst, reports: list
) -> tuple[threading.Thread, list[int]]:
    """A dispatcher started in a thread (its report appended to ``reports``), and the ids it
    leased, once its first claim has committed."""
    thread = threading.Thread(
        target=lambda: reports.append(
            dispatch(engine=engine, notify=slow.notify, smtp=slow.smtp, concurrency=1)
        ),  # fmt: skip
    )
    thread.start()
    return thread, _leased_ids(engine)


def _until_accepted(sink: SmtpSink, n: int, deadline: float = 30.0) -> None:
    """Wait until the sink has accepted ``n`` messages."""
    end = time.monotonic() + deadline
    while len(sink.handler.received) < n:
        if time.monotonic() > end:
            raise AssertionError(f"the sink accepted {len(sink.handler.received)} of {n}")
        time.sleep(0.01)


def _leased_ids(engine: Engine, deadline: float = 10.0) -> list[int]:
    """The ids leased, once a dispatcher just started has committed its first claim."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with engine.connect() as conn:
            ids = conn.scalars(sa.select(T.c.id).where(T.c.lease_until.is_not(None))).all()
        if ids:
            return sorted(ids)
        time.sleep(0.01)
    raise AssertionError("the dispatcher claimed nothing")


def test_renewing_held_up_by_the_database_gives_the_queue_back_unsent(engine: Engine) -> None:
    """While the first message is on a slow server the database holds up the dispatcher's
    lease renewal (a lock the test takes) for longer than a lease: the messages still queued
    are not started under a lease that may have run out, they go back unsent and are claimed
    again; the first one, sent and waiting to be recorded when its lease ran out, is not
    claimed again by its own dispatcher. Each message arrives once."""
    expected, sink, *_ = slow = _first_send_takes(engine, leases=2.0)
    reports: list = []
    raw = engine.raw_connection()
    try:
        thread, held = _dispatch_in_background(engine, slow, reports)
        if engine.dialect.name == "sqlite":
            raw.execute("BEGIN IMMEDIATE")  # every writer waits
        else:
            raw.cursor().execute(
                "SELECT id FROM notification WHERE id = ANY(%s) FOR UPDATE", (held,)
            )  # the renewal's UPDATE waits on these rows
        # held until the slow first send has ended, and half a lease more: the next row is
        # due to start while its renewal still waits. (A fixed wait from the claim let a
        # dispatcher slow to start its send, on a loaded machine, finish it after the lock
        # was gone and renewed in time: nothing went back.)
        _until_accepted(sink, 1)
        time.sleep(0.5 * LEASE)
        raw.rollback()
        thread.join(60)
    finally:
        raw.close()
        sink.stop()
    (report,) = reports
    copies = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    assert set(copies) == expected, "every message arrives"
    assert set(copies.values()) == {1}, f"sent twice: {[k for k, n in copies.items() if n > 1]}"
    assert report.released == len(held) - 1, "the queue behind the slow send went back"
    assert (report.sent, report.lost) == (len(expected), 0)


def test_a_message_found_leased_by_another_is_passed_over(engine: Engine) -> None:
    """While the first message is on a slow server, the rest of its batch turns up leased by
    someone else (as after a lease that ran out): the dispatcher's next renewal finds them
    gone and it never sends them; a later run does, once."""
    expected, sink, notify, smtp = slow = _first_send_takes(engine, leases=1.5)
    reports: list = []
    try:
        thread, (first, *taken) = _dispatch_in_background(engine, slow, reports)
        rival = T.update().where(T.c.id.in_(taken))
        with engine.begin() as conn:
            conn.execute(rival.values(lease_until=datetime.now(UTC) + timedelta(hours=1)))
        thread.join(60)
        (report,) = reports
        with Session(engine) as s:
            unsent = set(s.exec(select(Notification.idempotency_key)
                                .where(Notification.status == "pending")))  # fmt: skip
        with engine.begin() as conn:  # the other holder gave up its lease
            conn.execute(rival.values(lease_until=None))
        again = dispatch(engine=engine, notify=notify, smtp=smtp, concurrency=1)
    finally:
        sink.stop()
    assert (report.lost, report.sent, report.released) == (
        len(taken),
        len(expected) - len(taken),
        0,
    )
    assert len(unsent) == len(taken)
    assert again.sent == len(taken)
    copies = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    assert set(copies) == expected and set(copies.values()) == {1}


def test_a_send_that_outlasts_its_lease_is_never_sent_by_a_second_dispatcher(
    engine: Engine,
) -> None:
    """The first message takes longer than the whole lease to send. The first dispatcher keeps
    renewing what it holds meanwhile, so a second one started after the first lease would have
    run out finds only what the first never claimed."""
    expected, sink, notify, smtp = _first_send_takes(engine, leases=1.6)
    try:
        reports = _two_dispatchers(engine, notify, smtp, concurrency=1, stagger=1.2 * LEASE)
    finally:
        sink.stop()
    copies = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    assert set(copies) == expected, "every message arrives"
    assert set(copies.values()) == {1}, f"sent twice: {[k for k, n in copies.items() if n > 1]}"
    assert sorted(r.sent for r in reports) == [4, 8], "the second took what the first held"
    assert sum(r.released for r in reports) == 0


def test_a_send_that_hangs_does_not_hold_its_message_for_ever(engine: Engine) -> None:
    """The first message's send hangs for eight leases. Its dispatcher stops renewing what it
    has held for MAX_HOLD_LEASES leases, so a dispatcher started after that (and before the
    hang ends) sends the whole batch; the first passes over what it no longer holds. The hung
    message goes out twice, with one Message-ID: the price of not waiting for ever."""
    expected, sink, notify, smtp = slow = _first_send_takes(engine, leases=8.0)
    reports: list = []
    try:
        stuck, (first, *_) = _dispatch_in_background(engine, slow, reports)
        time.sleep((MAX_HOLD_LEASES + 2) * LEASE)
        second = dispatch(engine=engine, notify=notify, smtp=smtp, concurrency=1)
        stuck.join(60)
    finally:
        sink.stop()
    (report,) = reports
    # the second recorded the hung message first; the first's late outcome changes nothing
    assert (second.sent, report.sent, report.lost) == (len(expected), 0, 7)
    copies = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    assert set(copies) == expected
    assert sorted(copies.values()) == [1] * (len(expected) - 1) + [2]
    with Session(engine) as s:
        hung = s.get(Notification, first)
        assert hung is not None and hung.status == "sent"
        assert str(copies.most_common(1)[0][0]) == f"<{hung.idempotency_key}@shuangsui>"


def test_a_batch_claimed_before_the_workers_started_is_renewed_before_it_is_sent(
    engine: Engine,
) -> None:
    """The first batch is claimed before helper processes start (seconds): the workers find
    it claimed over half a lease ago, renew it first and send it, none given back."""
    lease = timedelta(seconds=LEASE)
    expected = _enqueue(engine, enterprises=3)  # 6 messages
    sink = SmtpSink(SinkHandler()).start()
    notify = NotifySettings(channel="live", lease_seconds=LEASE, processes=1)
    at, since = datetime.now(UTC), time.monotonic()
    first = claim(engine, 10, at, lease)
    time.sleep(0.6 * LEASE)  # as long as a helper's start would take, at this lease
    try:
        report = run_workers(
            engine=engine, first=first, first_lease_until=at + lease,
            first_claimed=since, batch_size=10, concurrency=1, round_key=None,
            clock=lambda: datetime.now(UTC), lease=lease, transport=None,
            settings=get_settings(), notify=notify, smtp=SmtpSettings(port=sink.port),
        )  # fmt: skip
    finally:
        sink.stop()
    assert (report.claimed, report.sent, report.released) == (len(expected), len(expected), 0)
    copies = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    assert set(copies) == expected and set(copies.values()) == {1}


@pytest.mark.parametrize(("min_backlog", "processes"), [(1000, 1), (80, 2)])
def test_helpers_only_for_a_backlog_worth_their_start(
    engine: Engine, min_backlog: int, processes: int
) -> None:
    """A helper process takes seconds to start: 80 due messages get one only when the
    threshold is at most 80. Either way every message goes out once."""
    expected = _enqueue(engine, enterprises=40)  # 80 messages
    notify = NotifySettings(channel="file", batch_size=10, processes=2,
                            helper_min_backlog=min_backlog)  # fmt: skip
    report = dispatch(engine=engine, notify=notify)
    assert (report.processes, report.sent) == (processes, len(expected))
