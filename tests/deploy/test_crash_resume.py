"""kill -9 in the middle of a monthly round, then run it again: the round ends exactly as an
uninterrupted run on a fresh database with the same registry ends (SQLite and PostgreSQL).

The round runs as a real process (``python -c "... monthly_round(...)"``) with its own
temporary Prefect API server. The test holds a lock the draw's transaction needs, so the draw
cannot persist however fast it is: on PostgreSQL the selection table (taken before the round
starts; the kill comes once the draw's transaction, with the round row already updated, waits
on it), on SQLite the file's write lock (taken the moment the commitment is visible). Then the
whole process group gets SIGKILL, the lock is released, and the round is run again."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from rounds.audit import load_chain, verify_chain
from rounds.models import Assignment, AuditEvent, Round, Selection
from shuangsui import db
from tests.databases import create_database, drop_database
from tests.deploy.procs import REPO_ROOT, Proc, clean_env, start, wait_for
from tests.rounds.factories import plan_yaml, seed_registry

pytestmark = pytest.mark.slow

ROUND = "ccc-2026-12"
DIGITS = "27182818284590452353602874"
WITNESSES = ["王五", "赵六"]
# ~1,330 enterprises drawn, 2,660 team places over 300 inspectors: a draw with some weight;
# a workload cap of 20 leaves room (10 would be just enough).
ENTERPRISES, INSPECTORS, WORKLOAD_CAP = 4000, 300, 20
SQLITE_HOLD = 3.0  # s the write lock is held before the kill: the draw computes in ~0.5 s
RUN_TIMEOUT = 300  # temporary server (12 s fresh, far more under load) + commit + draw + bundle
SCRIPT = (
    "from flows.rounds import monthly_round; "
    f"monthly_round(period={ROUND[4:]!r}, witness_digits={DIGITS!r}, witnesses={WITNESSES!r})"
)


@contextmanager
def fresh_database(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second migrated, empty database of the same kind as ``db_url``."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        other = f"sqlite:///{tmp_path / 'uninterrupted.db'}"
        db.migrate(other)
        yield other
        return
    name = f"{url.database}_uninterrupted"
    admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        create_database(admin, name)
        other = url.set(database=name).render_as_string(hide_password=False)
        db.migrate(other)
        yield other
    finally:
        drop_database(admin, name)
        admin.dispose()


@contextmanager
def engine_for(url: str) -> Iterator[sa.Engine]:
    engine = db.make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def seeded(url: str) -> None:
    with engine_for(url) as engine:
        seed_registry(engine, enterprises=ENTERPRISES, inspectors=INSPECTORS)


class RoundProcess:
    """``monthly_round`` in a process of its own, on one database, with no PREFECT_API_URL."""

    def __init__(self, tmp_path: Path, plans: Path) -> None:
        self.tmp_path = tmp_path
        self.plans = plans
        self.runs = 0

    def start(self, db_url: str) -> Proc:
        self.runs += 1
        prefect = self.tmp_path / "prefect"
        (prefect / "home").mkdir(parents=True, exist_ok=True)  # Prefect makes one level only
        env = clean_env(
            SHUANGSUI_DATABASE_URL=db_url,
            SHUANGSUI_PLANS_DIR=str(self.plans),
            SHUANGSUI_HOME=str(self.tmp_path / f"home-{self.runs}"),
            SHUANGSUI_ENVIRONMENT="test",
            PREFECT_HOME=str(prefect / "home"),  # shared: later runs skip its migrations
            PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(prefect / "storage"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="240",
        )
        return start(
            f"monthly round (run {self.runs})",
            [sys.executable, "-c", SCRIPT],
            env=env,
            cwd=REPO_ROOT,
            log=self.tmp_path / f"round-{self.runs}.log",
        )

    def complete(self, db_url: str) -> None:
        proc = self.start(db_url)
        try:
            wait_for(lambda: proc.popen.poll() is not None, RUN_TIMEOUT,
                     f"{proc.name} to finish", poll=0.5, details=proc.output)  # fmt: skip
            assert proc.popen.returncode == 0, f"{proc.name} failed\n{proc.output()}"
        finally:
            proc.stop(grace=5)


def round_status(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT status FROM round WHERE round_key = :k"), {"k": ROUND}
        ).scalar()


def _kill(proc: Proc) -> None:
    assert proc.alive(), f"{proc.name} ended before the kill\n{proc.output()}"
    proc.kill_group(signal.SIGKILL)
    proc.popen.wait(timeout=30)
    wait_for(lambda: not proc.group_alive(), 30, "the killed process group to go",
             poll=0.1, details=proc.output)  # fmt: skip


def run_and_kill_mid_round(db_url: str, rounds: RoundProcess) -> Proc:
    """Start the round and SIGKILL its process group after the commitment, before the draw can
    persist, while the test holds a lock the draw's transaction needs."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        # One write lock for the whole file: taken the moment the commitment is visible
        # (the draw computes ~0.5 s before its first write, which then waits: busy_timeout 30 s).
        conn = sqlite3.connect(str(url.database), isolation_level=None, timeout=60)
        proc = rounds.start(db_url)
        try:
            committed = "SELECT status FROM round WHERE round_key = ?"
            wait_for(lambda: conn.execute(committed, (ROUND,)).fetchone(), RUN_TIMEOUT,
                     f"round {ROUND} to be committed", poll=0.01, details=proc.output,
                     alive=proc)  # fmt: skip
            conn.execute("BEGIN IMMEDIATE")
            time.sleep(SQLITE_HOLD)
            _kill(proc)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            proc.stop(grace=1)
        return proc
    # PostgreSQL: lock the selection table before the round starts (reads still pass, so the
    # commitment goes through); the draw blocks on its first write of selection rows, after it
    # has updated the round row in the same transaction. Kill it there.
    with engine_for(db_url) as engine, engine.connect() as holder:
        tx = holder.begin()
        holder.execute(sa.text("LOCK TABLE selection IN EXCLUSIVE MODE"))
        blocked = sa.text(  # whatever statement writes the rows (COPY, INSERT): a lock waited on
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'selection' AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) AND NOT l.granted"
        )

        def draw_waits() -> int:
            with engine.connect() as probe:  # a new transaction: pg_stat_activity is snapshotted
                return int(probe.execute(blocked).scalar() or 0)

        proc = rounds.start(db_url)
        try:
            wait_for(draw_waits, RUN_TIMEOUT, "the draw to wait on the selection table's lock",
                     poll=0.1, details=proc.output, alive=proc)  # fmt: skip
            _kill(proc)
        finally:
            tx.rollback()
            proc.stop(grace=1)
    return proc


def final_state(url: str) -> dict[str, Any]:
    """Everything a round's outcome consists of, in comparable form."""
    with engine_for(url) as engine, Session(engine) as s:
        rnd = s.get(Round, ROUND)
        assert rnd is not None, f"no round {ROUND} in {url}"
        chain = load_chain(s)
        verify_chain(chain)
        where_round = col(Selection.round_key) == ROUND
        state = {
            "status": rnd.status.value,
            "seed": rnd.seed,
            "frame_commitment": rnd.frame_commitment,
            "entropy": json.dumps(rnd.entropy, ensure_ascii=False, sort_keys=True),
            "selection": sorted(
                (x.credit_code, x.stratum, x.kind, x.rank, x.ticket)
                for x in s.exec(select(Selection).where(where_round))
            ),
            "assignments": sorted(
                (a.credit_code, a.inspector_id, a.position, a.due_on.isoformat())
                for a in s.exec(select(Assignment).where(col(Assignment.round_key) == ROUND))
            ),
            "RoundCommitted": [e.event for e in chain].count("RoundCommitted"),
            "DrawMade": [e.event for e in chain].count("DrawMade"),
        }
        if sa.inspect(engine).has_table("notification"):  # notifications: wired concurrently
            with engine.connect() as conn:
                state["notifications"] = conn.execute(
                    sa.text("SELECT count(*) FROM notification")
                ).scalar()
    return state


def test_a_round_killed_mid_draw_resumes_to_the_uninterrupted_result(
    db_url: str, tmp_path: Path
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / f"{ROUND}.yaml").write_text(plan_yaml(workload_cap=WORKLOAD_CAP), encoding="utf-8")
    rounds = RoundProcess(tmp_path, plans)

    with fresh_database(db_url, tmp_path) as other_url:
        seeded(other_url)
        rounds.complete(other_url)
        uninterrupted = final_state(other_url)
    assert uninterrupted["status"] == "drawn" and uninterrupted["DrawMade"] == 1
    assert len(uninterrupted["assignments"]) == 2 * len(uninterrupted["selection"]) > 1000

    seeded(db_url)
    proc = run_and_kill_mid_round(db_url, rounds)
    with engine_for(db_url) as engine:
        status = round_status(engine)
        with Session(engine) as s:
            selected = len(s.exec(select(Selection)).all())
            drawn = s.exec(select(AuditEvent).where(AuditEvent.event == "DrawMade")).all()
    assert proc.popen.returncode == -signal.SIGKILL
    assert (status, selected, len(drawn)) == ("committed", 0, 0), (
        f"the kill should have landed between the commitment and the draw; found status "
        f"{status}, {selected} selected, {len(drawn)} DrawMade\n{proc.output()}"
    )

    rounds.complete(db_url)
    resumed = final_state(db_url)
    assert resumed == uninterrupted
