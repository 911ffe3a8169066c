"""``leads import`` of N leads (default 5,000) with and without the leads' intake lock.

Every path that records a lead takes the intake lock before the lead's id
(``leads.service.lock_intake``: ``pg_advisory_xact_lock`` on PostgreSQL, nothing on SQLite),
so that a program polling ``GET /leads?after=`` misses none. An import takes it once for the
whole file. This bench imports the same file again and again, alternately as shuangsui does
(locked) and with the lock taken out (``lock_intake`` a no-op), the tables emptied before each
import, and prints every time and the medians: the lock should cost one statement a file.

Usage (from the repository root):
  .venv/bin/python bench/bench_leads_import.py [--leads N] [--runs R] [--postgres-url URL]
Without a URL it runs on SQLite, where the lock is nothing. Never asserts a time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pg_admin
import sqlalchemy as sa

DB = "shuangsui_bench_leads"


def _file(folder: Path, n: int) -> Path:
    from registry.io import write_table
    from tests.rounds.factories import credit_code

    rng = random.Random(7)
    rows = [["投诉举报", credit_code(rng, "350100"), "虚假认证", "2026-11-02"] for _ in range(n)]
    path = folder / "leads.csv"
    write_table(path, ["来源", "统一社会信用代码", "线索类别", "收到日期"], rows)
    return path


def _empty(engine: sa.Engine) -> None:
    """No lead and no audit event: each import starts where the first did."""
    from leads.models import Lead
    from rounds.models import AuditEvent

    tables = [Lead.__table__.name, AuditEvent.__table__.name]  # type: ignore[attr-defined]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))


def _lock_alone(engine: sa.Engine, times: int = 1_000) -> float:
    """Milliseconds a transaction that takes the intake lock and commits spends beyond one that
    runs ``SELECT 1`` and commits: what the lock adds to an intake, uncontended."""
    from sqlmodel import Session

    from leads import service

    def spent(lock: bool) -> float:
        start = time.perf_counter()
        for _ in range(times):
            with Session(engine) as session:
                if lock:
                    service.lock_intake(session)
                else:
                    session.execute(sa.text("SELECT 1"))
                session.commit()
        return time.perf_counter() - start

    return (spent(True) - spent(False)) / times * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=7, help="imports of each kind")
    parser.add_argument("--postgres-url", default="")
    args = parser.parse_args()

    from leads import service
    from leads.importer import import_leads
    from shuangsui import db

    with tempfile.TemporaryDirectory(prefix="shuangsui-bench-leads-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres_url:
            url = pg_admin.fresh(args.postgres_url, DB)
        db.migrate(url)
        engine = sa.create_engine(url)
        path = _file(Path(tmp), args.leads)
        locked = service.lock_intake
        times: dict[str, list[float]] = {"locked": [], "unlocked": []}
        print(f"leads import, {args.leads:,} leads, {engine.dialect.name}, "
              f"{args.runs} runs of each", flush=True)  # fmt: skip
        for run in range(args.runs):
            kinds = ["locked", "unlocked"] if run % 2 == 0 else ["unlocked", "locked"]
            for kind in kinds:
                service.lock_intake = locked if kind == "locked" else (lambda session: None)
                _empty(engine)
                start = time.perf_counter()
                done = import_leads(engine, path, imported_by="bench")
                times[kind].append(time.perf_counter() - start)
                assert len(done.ids) == args.leads
                print(f"  run {run + 1} {kind:<8} {times[kind][-1]:6.3f} s", flush=True)
        service.lock_intake = locked
        for kind, seconds in times.items():
            print(f"  {kind:<8} median {statistics.median(seconds):6.3f} s, "
                  f"min {min(seconds):6.3f} s")  # fmt: skip
        ratio = statistics.median(times["locked"]) / statistics.median(times["unlocked"])
        print(f"  locked / unlocked (medians) = {ratio:5.3f}")
        print(f"  the lock alone, in a transaction of its own: {_lock_alone(engine):.3f} ms")
        engine.dispose()
        if args.postgres_url:
            pg_admin.drop(args.postgres_url, DB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
