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
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from notifications.dispatch import dispatch
from notifications.models import Notification
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.db import session_scope
from tests.notifications.factory import TODAY, make_round
from tests.notifications.servers import SinkHandler, SmtpSink

ROOT = Path(__file__).resolve().parents[2]
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


def test_a_slow_server_never_makes_two_dispatchers_send_one_message(engine: Engine) -> None:
    """A batch that outlives its lease on a slow server: a second dispatcher may then claim its
    rows, so the first gives back what it has not started once half the lease is gone."""
    expected = _enqueue(engine, enterprises=6)  # 12 messages
    sink = SmtpSink(SinkHandler(delay=0.25)).start()
    notify = NotifySettings(channel="live", batch_size=8, lease_seconds=1.0, processes=1)
    smtp = SmtpSettings(port=sink.port)
    try:  # the first takes a whole batch of 8 (2 s of sending)
        reports = _two_dispatchers(engine, notify, smtp, concurrency=1, stagger=0.05)
    finally:
        sink.stop()
    copies = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    assert set(copies) == expected, "every message arrives"
    assert set(copies.values()) == {1}, f"sent twice: {[k for k, n in copies.items() if n > 1]}"
    assert sum(r.released for r in reports) > 0, "no batch outlived half its lease"
    assert sum(r.sent for r in reports) == len(expected)


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
