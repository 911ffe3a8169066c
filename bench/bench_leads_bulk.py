"""``leads import`` of N leads beside its floor, on SQLite and PostgreSQL.

The floor is the standard library and the DBAPI doing the same reads and writes on the same
file: ``csv.reader`` over it, the references looked up, the head of the audit log read once,
the lead rows inserted in one ``executemany`` (``COPY`` on PostgreSQL) and their ids read
back, the registry asked which credit codes it holds, and the same audit rows (one
``LeadReceived`` a lead, one ``LeadsImported``) chained with ``hashlib`` and inserted in one
``executemany``. It checks nothing a coordinator would be told about (credit codes, dates,
labels): what it leaves out is the validation shuangsui owes the file. The floor's chain is
verified with ``rounds.audit.check_chain`` after each run, outside the time.

Each size is run ``--runs`` times, alternately floor first and shuangsui first, each into
emptied tables; prints every run's wall and CPU (``time.process_time``: the database server's
work on PostgreSQL is not in it) and the medians with their ratio.

Usage (from the repository root):
  .venv/bin/python bench/bench_leads_bulk.py [--sizes 5000,50000] [--runs 3] [--postgres-url URL]
      [--skip-sqlite]
Without a URL it runs on SQLite only; ``--skip-sqlite`` runs PostgreSQL only. Never asserts a time.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pg_admin
import sqlalchemy as sa

DB = "shuangsui_bench_leads_bulk"
HEADER = ["来源", "统一社会信用代码", "线索类别", "收到日期", "办结期限", "保密", "举报人",
          "线索内容", "编号"]  # fmt: skip
LOOKUP = 10_000  # values per IN (...), as the importer looks them up


def _file(folder: Path, n: int) -> Path:
    """N leads, every column given, about half of them of enterprises the registry holds."""
    from registry.io import write_table
    from tests.rounds.factories import credit_code

    rng = random.Random(7)
    rows = []
    for i in range(n):
        deadline = "" if i % 3 else "2026-12-31"
        rows.append(["投诉举报" if i % 2 else "风险监测", credit_code(rng, "350100"), "虚假认证",
                     "2026-11-02", deadline, "是" if i % 4 else "否", f"举报人{i}",
                     f"线索内容 {i}", f"B-{i}"])  # fmt: skip
    path = folder / f"leads-{n}.csv"
    write_table(path, HEADER, rows)
    return path


def _registry(engine: sa.Engine, path: Path) -> None:
    """Every other lead's enterprise in the registry (``registry.generate``'s columns)."""
    from registry.models import Enterprise

    with path.open(encoding="utf-8-sig", newline="") as fh:
        codes = [row[1] for row in list(csv.reader(fh))[1::2]]
    table = Enterprise.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(table.delete())
        conn.execute(table.insert(), [_enterprise(code) for code in codes])


def _enterprise(code: str) -> dict[str, object]:
    from registry.models import EnterpriseStatus, RiskClass

    return {"credit_code": code, "name": f"企业{code[-6:]}", "division_code": "350100",
            "status": EnterpriseStatus.active, "risk_class": RiskClass.B,
            "updated_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)}  # fmt: skip


def _empty(engine: sa.Engine) -> None:
    """No lead and no audit event: each import starts where the first did."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE lead, audit_event RESTART IDENTITY CASCADE"))
        else:
            conn.execute(sa.text("DELETE FROM lead"))
            conn.execute(sa.text("DELETE FROM audit_event"))


# ------------------------------------------------------------------ the floor
LABELS = {"投诉举报": "complaint", "风险监测": "risk_monitoring"}
COLUMNS = ("source", "credit_code", "category", "received_on", "deadline", "confidential",
           "reporter", "allegation", "external_ref", "status", "urgent", "decision_reason",
           "decided_by", "created_by", "created_at", "updated_at")  # fmt: skip


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _floor(engine: sa.Engine, path: Path, by: str) -> int:
    """The same reads and writes as ``leads import``, in the standard library and the DBAPI."""
    at = dt.datetime.now(dt.UTC)
    days = dt.timedelta(days=60)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        leads = []
        for src, code, cat, received, deadline, conf, reporter, text, ref in reader:
            on = dt.date.fromisoformat(received)
            due = dt.date.fromisoformat(deadline) if deadline else on + days
            leads.append((LABELS[src], code, cat, on, due, conf == "是", reporter, text, ref,
                          "received", False, "", "", f"import:{by}", at, at))  # fmt: skip
    pg = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        refs = [row[8] for row in leads]
        held = _in(cur, "SELECT external_ref FROM lead WHERE external_ref IN", refs, pg)
        assert not held
        _insert_leads(cur, leads, pg)
        cur.execute("SELECT id FROM lead ORDER BY id")  # the table was empty: these are ours
        ids = [row[0] for row in cur.fetchall()]
        codes = sorted({row[1] for row in leads})
        _in(cur, "SELECT credit_code FROM enterprise WHERE credit_code IN", codes, pg)
        _insert_events(cur, leads, ids, path, by, pg)
        raw.commit()
    finally:
        raw.close()
    return len(ids)


def _in(cur: object, query: str, values: list[str], pg: bool) -> set[str]:
    found: set[str] = set()
    mark = "%s" if pg else "?"
    for i in range(0, len(values), LOOKUP):
        part = values[i : i + LOOKUP]
        cur.execute(f"{query} ({', '.join([mark] * len(part))})", part)  # type: ignore[attr-defined]
        found.update(row[0] for row in cur.fetchall())  # type: ignore[attr-defined]
    return found


def _insert_leads(cur: object, leads: list[tuple], pg: bool) -> None:
    names = ", ".join(COLUMNS)
    if pg:
        with cur.copy(f"COPY lead ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in leads:
                copy.write_row(row)
        return
    sqlite_rows = [(*row[:14], _sqlite_at(row[14]), _sqlite_at(row[15])) for row in leads]
    marks = ", ".join("?" * len(COLUMNS))
    cur.executemany(f"INSERT INTO lead ({names}) VALUES ({marks})", sqlite_rows)  # type: ignore[attr-defined]


def _sqlite_at(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores a DATETIME on SQLite


def _insert_events(
    cur: object, leads: list[tuple], ids: list[int], path: Path, by: str, pg: bool
) -> None:
    cur.execute("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")  # type: ignore[attr-defined]
    head = cur.fetchone()  # type: ignore[attr-defined]
    seq, prev = head if head else (0, "0" * 64)
    events = [("LeadReceived", {"lead_id": i, "source": row[0], "credit_code": row[1],
               "category": row[2], "deadline": row[4].isoformat(), "by": row[13]})
              for i, row in zip(ids, leads, strict=True)]  # fmt: skip
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    events.append(("LeadsImported", {"file": str(path), "sha256": sha, "lead_ids": ids, "by": by}))
    at = dt.datetime.now(dt.UTC)
    stamp = at.isoformat(timespec="microseconds")
    rows = []
    for name, body in events:
        seq += 1
        payload = _canonical(body).decode()
        link = _canonical({"seq": seq, "at": stamp, "round_key": None, "event": name,
                           "payload": payload})  # fmt: skip
        digest = hashlib.sha256(bytes.fromhex(prev) + link).hexdigest()
        rows.append((seq, at if pg else _sqlite_at(at), None, name, payload, prev, digest))
        prev = digest
    mark = "%s" if pg else "?"
    cur.executemany(  # type: ignore[attr-defined]
        "INSERT INTO audit_event (seq, at, round_key, event, payload, prev_hash, hash) "
        f"VALUES ({', '.join([mark] * 7)})",
        rows,
    )


# ------------------------------------------------------------------ the runs
@dataclasses.dataclass
class Times:
    wall: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)


def _timed(into: Times, run: Callable[[], int], n: int) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    done = run()
    into.wall.append(time.perf_counter() - wall)
    into.cpu.append(time.process_time() - cpu)
    assert done == n, f"{done} leads recorded, {n} expected"


def _size(engine: sa.Engine, folder: Path, n: int, runs: int) -> None:
    from leads.importer import import_leads
    from rounds import audit

    path = _file(folder, n)
    _registry(engine, path)
    kinds: dict[str, Callable[[], int]] = {
        "floor": lambda: _floor(engine, path, "bench"),
        "shuangsui": lambda: len(import_leads(engine, path, imported_by="bench").ids),
    }
    times = {kind: Times() for kind in kinds}
    print(f"leads import, {n:,} leads, {engine.dialect.name}, {runs} runs of each", flush=True)
    for run in range(runs):
        for kind in list(kinds) if run % 2 == 0 else list(kinds)[::-1]:
            _empty(engine)
            _timed(times[kind], kinds[kind], n)
            assert audit.check_chain(engine) == n + 1
            print(f"  run {run + 1} {kind:<9} wall {times[kind].wall[-1]:7.3f} s, "
                  f"cpu {times[kind].cpu[-1]:7.3f} s", flush=True)  # fmt: skip
    for kind, t in times.items():
        wall, cpu = statistics.median(t.wall), statistics.median(t.cpu)
        print(f"  {kind:<9} median wall {wall:7.3f} s ({wall / n * 1e6:6.1f} us a lead), "
              f"cpu {cpu:7.3f} s")  # fmt: skip
    floor, ours = times["floor"], times["shuangsui"]
    wall = statistics.median(ours.wall) / statistics.median(floor.wall)
    cpu = statistics.median(ours.cpu) / statistics.median(floor.cpu)
    print(f"  shuangsui / floor (medians): wall {wall:5.2f}x, cpu {cpu:5.2f}x", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,50000")
    parser.add_argument("--runs", type=int, default=3, help="imports of each kind and size")
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()

    from shuangsui import db

    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="shuangsui-bench-leads-bulk-") as tmp:
        urls = [] if args.skip_sqlite else [f"sqlite:///{Path(tmp) / 'bench.db'}"]
        if args.postgres_url:
            urls.append(pg_admin.fresh(args.postgres_url, DB))
        for url in urls:
            db.migrate(url)
            engine = sa.create_engine(url)
            for n in sizes:
                _size(engine, Path(tmp), n, args.runs)
            engine.dispose()
        if args.postgres_url:
            pg_admin.drop(args.postgres_url, DB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
