"""Benchmark of risk classification (default 1,000,000 enterprises), beside the bare read.

One run, figures side by side, on one database (SQLite unless --postgres-url):
  * floor     — the inputs read through the DBAPI alone (stdlib sqlite3 / psycopg cursor):
                every active enterprise with its flags, the certificate counts, partners'
                results and upheld complaints, fetched and dropped;
  * compute   — shuangsui's read of the same inputs (Core) plus the scoring of every
                enterprise (inputs JSON, digest, score, class), nothing written;
  * classify  — `shuangsui risk classify` as it runs: compute + one transaction writing the
                run, a row per enterprise and the audit event;
  * in force  — the classes a round's frame reads at commit (the frames hook).

The registry is generated straight into the tables (Core, batches): credit codes, 2 % on the
abnormal-operation list, 0.2 % serious violations, 1 % with a suspended or withdrawn
certificate, 50,000 partners' results and 10,000 upheld complaints. Our own findings are not
generated (they need rounds and teams); partners' results take the same path.

Usage (from the repository root):
  .venv/bin/python bench/bench_risk.py [--enterprises N] [--postgres-url URL]
Never asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pg_admin
import sqlalchemy as sa

AS_OF = dt.date(2026, 11, 30)  # a classification may not be dated after today
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
BATCH = 50_000


def _timed(label: str, fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    took = time.perf_counter() - t0
    print(f"  {label:<44} {took:8.2f} s", flush=True)
    return out, took


def generate(engine: sa.Engine, n: int) -> None:
    from exchange.models import PartnerEntry
    from registry.models import Certificate, Enterprise
    from risk.models import RiskComplaint

    rng = random.Random(1)
    divisions = ["350100", "350200", "350500", "350600", "310000", "320500"]
    codes = [f"91{divisions[i % 6]}{i:010d}" for i in range(n)]
    with engine.begin() as conn:
        for i in range(0, n, BATCH):
            conn.execute(sa.insert(Enterprise.__table__), [  # type: ignore[attr-defined]
                {"credit_code": c, "name": f"企业{c[-6:]}", "division_code": c[2:8],
                 "address": "", "industry": "", "risk_class": "B",
                 "abnormal_listed": rng.random() < 0.02, "serious_violation": rng.random() < 0.002,
                 "status": "active", "updated_at": NOW} for c in codes[i : i + BATCH]
            ])  # fmt: skip
            conn.execute(sa.insert(Certificate.__table__), [  # type: ignore[attr-defined]
                {"body": "CQC", "number": f"N{c}", "credit_code": c, "kind": "ccc", "scope": "",
                 "status": rng.choices(["valid", "suspended", "withdrawn"], [99, 0.6, 0.4])[0],
                 "issued_on": dt.date(2025, 1, 1), "expires_on": dt.date(2030, 1, 1),
                 "updated_at": NOW} for c in codes[i : i + BATCH]
            ])  # fmt: skip
        outcomes = ["no_problem"] * 6 + ["nonconforming", "ordered_to_rectify", "unreachable"]
        partner = []
        for seq in range(50_000):
            code, outcome = rng.choice(codes), rng.choice(outcomes)
            day = AS_OF - dt.timedelta(days=rng.randrange(900))
            body = {"body": {"credit_code": code, "outcome": outcome, "inspected_on": str(day)}}
            partner.append({"partner_code": "310000", "seq": seq, "entry_id": f"result/b/{seq}",
                            "kind": "result", "supersedes": None, "credit_code": code,
                            "check_item": "CCC-01", "event_date": day, "body": json.dumps(body),
                            "leaf_hash": "0" * 64, "applied_at": NOW})  # fmt: skip
        conn.execute(sa.insert(PartnerEntry.__table__), partner)  # type: ignore[attr-defined]
        complaints = [
            {"credit_code": rng.choice(codes), "ref": f"TS-{j}", "summary": "",
             "upheld_on": AS_OF - dt.timedelta(days=rng.randrange(1000)), "imported_at": NOW,
             "imported_by": "bench"} for j in range(10_000)
        ]  # fmt: skip
        conn.execute(sa.insert(RiskComplaint.__table__), complaints)  # type: ignore[attr-defined]


FLOOR_QUERIES = [
    "SELECT credit_code, abnormal_listed, serious_violation FROM enterprise "
    "WHERE status = 'active' ORDER BY credit_code",
    "SELECT credit_code, status, count(*) FROM certificate "
    "WHERE status IN ('suspended', 'withdrawn') GROUP BY credit_code, status",
    "SELECT partner_code, entry_id, credit_code, event_date, body FROM partner_entry "
    "WHERE kind IN ('result', 'correction') AND credit_code IS NOT NULL",
    "SELECT partner_code, supersedes FROM partner_entry WHERE supersedes IS NOT NULL",
    "SELECT credit_code, ref FROM risk_complaint",
]


def floor(engine: sa.Engine) -> int:
    """Every input row through the bare DBAPI cursor; the row count."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        rows = 0
        for q in FLOOR_QUERIES:
            cur.execute(q)
            while batch := cur.fetchmany(50_000):
                rows += len(batch)
        cur.close()
    finally:
        raw.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default="")
    args = parser.parse_args()

    from risk import rules as risk_rules
    from risk.classify import classes_in_force, classify, compute
    from shuangsui import db

    with tempfile.TemporaryDirectory(prefix="shuangsui-bench-risk-") as tmp:
        url = args.postgres_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres_url:
            url = pg_admin.fresh(args.postgres_url, "shuangsui_bench_risk")
        db.migrate(url)
        engine = sa.create_engine(url)
        backend = engine.dialect.name
        print(f"risk classification, {args.enterprises:,} enterprises, {backend}", flush=True)
        _timed("generate (not measured below)", lambda: generate(engine, args.enterprises))
        rules = risk_rules.load()
        rows, t_floor = _timed("floor: bare DBAPI read of the inputs", lambda: floor(engine))

        def just_compute() -> int:
            with engine.connect() as conn:
                return len(compute(conn, rules, AS_OF, "00" * 32))

        _n, t_compute = _timed("compute: read + score (nothing written)", just_compute)
        done, t_classify = _timed(
            "classify: read + score + write",
            lambda: classify(engine, rules, as_of=AS_OF, by="bench"),
        )

        def in_force() -> int:
            with engine.connect() as conn:
                return len(classes_in_force(conn))

        _m, t_force = _timed("in force: the classes a frame reads", in_force)
        print(f"  input rows read by the floor: {rows:,}; classes: {done.counts}")
        print(f"  compute / floor  = {t_compute / t_floor:5.2f} x")
        print(f"  classify / floor = {t_classify / t_floor:5.2f} x")
        print(f"  classify: {done.enterprises / t_classify:,.0f} enterprises/s")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak RSS of the process: {rss:,.0f} MiB")
        engine.dispose()
        if args.postgres_url:
            pg_admin.drop(args.postgres_url, "shuangsui_bench_risk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
