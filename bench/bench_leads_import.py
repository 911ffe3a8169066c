"""``leads import`` of N leads (default 5,000), with and without the intake lock, beside its floor.

Every path that records a lead takes the intake lock before the lead's id
(``leads.service.lock_intake``: ``pg_advisory_xact_lock`` on PostgreSQL, nothing on SQLite),
so that a program polling ``GET /leads?after=`` misses none. An import takes it once for the
whole file. This bench imports the same file again and again, in turns as shuangsui does
(locked), with the lock taken out (``lock_intake`` a no-op) and as its floor, the tables emptied
before each, and prints every time (wall and CPU, ``time.process_time``; the database server's
work on PostgreSQL is not in the CPU), the medians, ``locked / unlocked`` (the lock should cost
one statement a file) and ``import / floor``.

The floor is the leanest code doing the same reads and writes on the same file, in one
transaction on the DBAPI connection: ``csv.reader`` over the file (the source's label mapped to
its value, the dates parsed, the default deadline added); on PostgreSQL the intake lock; the
head of the leads read; the lead rows with the columns and values ``leads/importer.py`` writes
(``sqlite3`` ``executemany``; psycopg ``COPY``, faster here than its ``executemany``), their ids
read back; the registry asked which of the credit codes it holds (the import says which it does
not); the audit log's head read and one ``LeadReceived`` a lead and the one ``LeadsImported``
chained as ``rounds.audit`` chains them (``audit.chain_hash`` over canonical JSON, each event
stamped when it is chained) and inserted in one ``executemany``. It validates nothing: what it
leaves out is the checking shuangsui owes the file. After every run, outside the time, the audit
chain is checked (``audit.check_chain``) and what the run wrote (the lead rows but their
timestamps, the events' names and payloads) is compared with what the first import wrote.
Before each timed run the garbage collector runs untimed, so that no run pays for the objects
an earlier one left (the import pauses the collector, as every bulk step does; the collections
it put off were otherwise paid by whatever ran next, the floor as often as not).

Usage (from the repository root):
  .venv/bin/python bench/bench_leads_import.py [--leads N] [--runs R] [--postgres-url URL]
Without a URL it runs on SQLite, where the lock is nothing. Never asserts a time.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import gc
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pg_admin
import sqlalchemy as sa

DB = "shuangsui_bench_leads"
KINDS = ("locked", "unlocked", "floor")


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


# ------------------------------------------------------------------ the floor
SOURCES = {"投诉举报": "complaint"}  # the file's one label, as leads.models.SOURCE_LABELS maps it
DEADLINE = dt.timedelta(days=60)  # leads.schemas.DEFAULT_DEADLINE_DAYS
COLUMNS = ("source", "credit_code", "category", "received_on", "deadline", "confidential",
           "reporter", "allegation", "status", "urgent", "decision_reason", "decided_by",
           "created_by", "created_at", "updated_at")  # fmt: skip
INTAKE_LOCK = 0x5353_4C44  # leads.service.INTAKE_LOCK


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sqlite_at(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores a DATETIME on SQLite


def floor(engine: sa.Engine, path: Path, by: str) -> int:
    """What ``leads import`` reads and writes, in the standard library and the DBAPI."""
    from rounds.audit import GENESIS, chain_hash

    pg = engine.dialect.name == "postgresql"
    at = dt.datetime.now(dt.UTC)
    when = at if pg else _sqlite_at(at)
    made_by = f"import:{by}"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        leads = []
        for label, code, category, received in reader:
            on = dt.date.fromisoformat(received)
            leads.append((SOURCES[label], code, category, on, on + DEADLINE, True, "", "",
                          "received", False, "", "", made_by, when, when))  # fmt: skip
    mark = "%s" if pg else "?"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if pg:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (INTAKE_LOCK,))
        cur.execute("SELECT coalesce(max(id), 0) FROM lead")
        (last,) = cur.fetchone() or (0,)
        names = ", ".join(COLUMNS)
        if pg:
            with cur.copy(f"COPY lead ({names}) FROM STDIN") as copy:
                for row in leads:
                    copy.write_row(row)
        else:
            marks = ", ".join([mark] * len(COLUMNS))
            cur.executemany(f"INSERT INTO lead ({names}) VALUES ({marks})", leads)
        cur.execute(f"SELECT id FROM lead WHERE id > {mark} ORDER BY id", (last,))
        ids = [row[0] for row in cur.fetchall()]
        codes = sorted({row[1] for row in leads})
        if pg:
            cur.execute("SELECT credit_code FROM enterprise WHERE credit_code = ANY(%s)", (codes,))
        else:
            for i in range(0, len(codes), 10_000):  # leads.importer.LOOKUP
                part = codes[i : i + 10_000]
                cur.execute(f"SELECT credit_code FROM enterprise WHERE credit_code IN "
                            f"({', '.join('?' * len(part))})", part)  # fmt: skip
        cur.fetchall()
        cur.execute("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
        seq, prev = cur.fetchone() or (0, GENESIS)
        events = [("LeadReceived", {"lead_id": i, "source": row[0], "credit_code": row[1],
                   "category": row[2], "deadline": row[4].isoformat(), "by": made_by})
                  for i, row in zip(ids, leads, strict=True)]  # fmt: skip
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        events.append(("LeadsImported", {"file": str(path), "sha256": sha, "lead_ids": ids,
                                         "by": by}))  # fmt: skip
        rows = []
        for name, body in events:
            seq += 1
            payload = _canonical(body)
            stamp = dt.datetime.now(dt.UTC)
            digest = chain_hash(prev, seq, stamp.isoformat(timespec="microseconds"), None, name,
                                payload)  # fmt: skip
            rows.append((seq, stamp if pg else _sqlite_at(stamp), name, payload, prev, digest))
            prev = digest
        cur.executemany("INSERT INTO audit_event (seq, at, event, payload, prev_hash, hash) "
                        f"VALUES ({', '.join([mark] * 6)})", rows)  # fmt: skip
        raw.commit()
    finally:
        raw.close()
    return len(ids)


def written(engine: sa.Engine) -> tuple[int, str, int, str]:
    """What a run wrote: the leads and a digest of their rows (all but their timestamps, which
    are the moment of each run), the events and a digest of their names and payloads."""
    from leads.models import Lead
    from rounds.models import AuditEvent

    lead, event = Lead.__table__, AuditEvent.__table__  # type: ignore[attr-defined]
    shown = [c for c in lead.columns if c.key not in ("created_at", "updated_at")]
    with engine.connect() as conn:
        leads = conn.execute(sa.select(*shown).order_by(lead.c.id)).all()
        events = conn.execute(
            sa.select(event.c.seq, event.c.round_key, event.c.event, event.c.payload).order_by(
                event.c.seq
            )
        ).all()
    return len(leads), _digest(leads), len(events), _digest(events)


def _digest(rows: Sequence[sa.Row]) -> str:
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]


# ------------------------------------------------------------------ the runs
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


@dataclasses.dataclass
class Times:
    wall: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)

    def median(self) -> tuple[float, float]:
        return statistics.median(self.wall), statistics.median(self.cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=7, help="imports of each kind")
    parser.add_argument("--postgres-url", default="")
    args = parser.parse_args()

    from leads import service
    from leads.importer import import_leads
    from rounds import audit
    from shuangsui import db

    with tempfile.TemporaryDirectory(prefix="shuangsui-bench-leads-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres_url:
            url = pg_admin.fresh(args.postgres_url, DB)
        db.migrate(url)
        engine = sa.create_engine(url)
        path = _file(Path(tmp), args.leads)
        locked = service.lock_intake

        def imported(lock: bool) -> Callable[[], int]:
            def run() -> int:
                service.lock_intake = locked if lock else (lambda session: None)
                try:
                    return len(import_leads(engine, path, imported_by="bench").ids)
                finally:
                    service.lock_intake = locked

            return run

        runs = {"locked": imported(True), "unlocked": imported(False),
                "floor": lambda: floor(engine, path, "bench")}  # fmt: skip
        times = {kind: Times() for kind in KINDS}
        first: tuple[int, str, int, str] = (0, "", 0, "")
        print(f"leads import, {args.leads:,} leads, {engine.dialect.name}, "
              f"{args.runs} runs of each", flush=True)  # fmt: skip
        for run in range(args.runs):
            turn = run % len(KINDS)
            for kind in KINDS[turn:] + KINDS[:turn]:  # each kind first, second and third in turn
                _empty(engine)
                gc.collect()  # the collector's debt of the run before is not this run's
                wall, cpu = time.perf_counter(), time.process_time()
                done = runs[kind]()
                times[kind].wall.append(time.perf_counter() - wall)
                times[kind].cpu.append(time.process_time() - cpu)
                assert done == args.leads, f"{kind}: {done} leads, {args.leads} expected"
                assert audit.check_chain(engine) == args.leads + 1, f"{kind}: the chain"
                wrote = written(engine)
                first = first if first[0] else wrote
                assert wrote == first, f"{kind} wrote {wrote}, the first run {first}"
                print(f"  run {run + 1} {kind:<8} wall {times[kind].wall[-1]:7.3f} s, "
                      f"cpu {times[kind].cpu[-1]:7.3f} s", flush=True)  # fmt: skip
        for kind in KINDS:
            wall, cpu = times[kind].median()
            print(f"  {kind:<8} median wall {wall:7.3f} s (min {min(times[kind].wall):7.3f} s), "
                  f"cpu {cpu:7.3f} s")  # fmt: skip
        print(f"  wrote, every run: {first[0]:,} leads (rows {first[1]}), {first[2]:,} events "
              f"(payloads {first[3]}); the chain checked")  # fmt: skip
        ratio = statistics.median(times["locked"].wall) / statistics.median(times["unlocked"].wall)
        print(f"  locked / unlocked (medians) = {ratio:5.3f}")
        (wall, cpu), (floor_wall, floor_cpu) = times["locked"].median(), times["floor"].median()
        print(f"  import / floor (medians, locked): wall {wall / floor_wall:5.2f}x, "
              f"cpu {cpu / floor_cpu:5.2f}x")  # fmt: skip
        print(f"  the lock alone, in a transaction of its own: {_lock_alone(engine):.3f} ms")
        engine.dispose()
        if args.postgres_url:
            pg_admin.drop(args.postgres_url, DB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
