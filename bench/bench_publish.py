"""Publishing benchmark: a site of N published results rendered in full, again with nothing
changed, and again after one change (a signed correction of one finding), beside the floor,
in one run.

    .venv/bin/python bench/bench_publish.py [--results 20000] [--rounds 10]
        [--postgres-url postgresql+psycopg://...]

The database (SQLite in a temporary directory, or a fresh PostgreSQL database on that server,
dropped at the end) is filled straight through SQLAlchemy Core with synthetic drawn rounds (no
frames: verification bundles are not part of this measurement, they are written once per
round and never again). The floor is the standard library writing the same files' bytes
(those the full publish wrote, read back before the timing) with a SHA-256 of each for the
manifest, after one DBAPI read of the published rows (findings' versions joined with their
enterprise and round). It renders nothing: it is what moving the same data costs.
Aims (issue 17): full <= 2x the floor; unchanged and incremental <= 0.1x the full. The
floor's bytes include what the publish keeps beside the site (the manifest, the publish
state and the rounds' parts under ``.parts/``).
Before each timed run the garbage collector runs untimed, so that no run pays for the objects
an earlier one left (a full collection walks every object of the process: ~0.1 s here, which
a full publish's survivors would otherwise bring due in the incremental run after it).
Prints wall and CPU (``time.process_time``, this process only: on PostgreSQL the server's
work is not in it) figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import shuangsui.models  # noqa: E402,F401
from findings.models import Finding, FindingSignoff, FindingVersion  # noqa: E402
from registry.models import CheckItem, Enterprise  # noqa: E402
from rounds.models import Assignment, PlanVersion, Round, Selection  # noqa: E402

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
RESULTS = ["no_problem"] * 6 + ["ordered_to_rectify", "not_disclosed", "unreachable", "other"]
DIVISIONS = ["350100", "350200", "350300", "350400", "350500", "350600", "350700", "350800"]


def _insert(conn: sa.Connection, model: object, rows: list[dict]) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    for i in range(0, len(rows), 20_000):
        conn.execute(table.insert(), rows[i : i + 20_000])


def fill(url: str, n_results: int, n_rounds: int) -> None:
    from shuangsui.db import make_engine, migrate

    migrate(url)
    engine = make_engine(url)
    rng = random.Random(1)
    plan = {
        "title": "强制性产品认证获证产品一致性检查",
        "legal_basis": ["国市监信〔2019〕38号"],
        "check_item": "CCC-01",
        "strata": {"by": ["risk_class"], "rates": {"B": "10%"}},
    }
    per = n_results // n_rounds
    with engine.begin() as conn:
        _insert(
            conn,
            CheckItem,
            [
                {
                    "code": "CCC-01",
                    "name": "CCC一致性检查",
                    "legal_basis": "x",
                    "category": "general",
                    "cert_kinds": ["ccc"],
                    "updated_at": NOW,
                }
            ],
        )
        _insert(
            conn,
            PlanVersion,
            [
                {
                    "plan_hash": "0" * 64,
                    "plan_id": "p",
                    "check_item_code": "CCC-01",
                    "period": "2026-12",
                    "source": "",
                    "yaml_text": "",
                    "loaded_at": NOW,
                    "canonical_json": json.dumps(plan, ensure_ascii=False),
                }
            ],
        )
        ents, rounds, sels, asgs, fins, vers, sigs = [], [], [], [], [], [], []
        for i in range(n_results):
            ents.append(
                {
                    "credit_code": f"91{DIVISIONS[i % 8]}{i:010d}",
                    "name": f"企业{i}有限公司",
                    "division_code": DIVISIONS[i % 8],
                    "address": "",
                    "industry": "",
                    "risk_class": "B",
                    "abnormal_listed": False,
                    "serious_violation": False,
                    "status": "active",
                    "updated_at": NOW,
                }
            )
        for r in range(n_rounds):
            key = f"r-{r:03d}"
            rounds.append(
                {
                    "round_key": key,
                    "plan_id": "p",
                    "plan_hash": "0" * 64,
                    "check_item_code": "CCC-01",
                    "kind": "scheduled",
                    "period": "2026-12",
                    "requested_by": "",
                    "reason": "",
                    "overrides": {},
                    "window_start": dt.date(2026, 12, 1),
                    "window_end": dt.date(2026, 12, 31),
                    "status": "drawn",
                    "entropy_plan": {},
                    "frame_commitment": "a" * 64,
                    "frame_merkle_root": "b" * 64,
                    "frame_size": per * 10,
                    "inspector_commitment": "c" * 64,
                    "inspector_merkle_root": "d" * 64,
                    "inspector_frame_size": 100,
                    "constraints_commitment": "e" * 64,
                    "entropy": [{"source": "witness-digits", "digits": "31415926535897932384"}],
                    "seed": f"{r:064x}",
                    "counts": {"B": {"eligible": per * 10, "drawn": per, "rate": "10%"}},
                    "committed_at": NOW,
                    "drawn_at": NOW,
                }
            )
            for j in range(per):
                i = r * per + j
                code = ents[i]["credit_code"]
                sels.append(
                    {
                        "round_key": key,
                        "credit_code": code,
                        "stratum": "B",
                        "kind": "random",
                        "rank": j,
                        "ticket": "f" * 64,
                    }
                )
                for pos in range(2):
                    asgs.append(
                        {
                            "round_key": key,
                            "credit_code": code,
                            "inspector_id": f"I{pos}",
                            "position": pos,
                            "due_on": dt.date(2026, 12, 31),
                        }
                    )
                fins.append({"id": i + 1, "round_key": key, "credit_code": code, "created_at": NOW})
                vers.append(
                    {
                        "id": i + 1,
                        "finding_id": i + 1,
                        "version": 1,
                        "result": rng.choice(RESULTS),
                        "check_date": dt.date(2026, 12, 10),
                        "description": "",
                        "certificates": [],
                        "evidence": [],
                        "measures": [],
                        "internal_note": "",
                        "reason": "",
                        "submitted_by": "inspector:I0",
                        "content_hash": "0" * 64,
                        "created_at": NOW,
                    }
                )
                for pos in range(2):
                    sigs.append(
                        {
                            "version_id": i + 1,
                            "inspector_id": f"I{pos}",
                            "via": "api",
                            "signed_at": NOW,
                        }
                    )
        for model, rows in (
            (Enterprise, ents),
            (Round, rounds),
            (Selection, sels),
            (Assignment, asgs),
            (Finding, fins),
            (FindingVersion, vers),
            (FindingSignoff, sigs),
        ):
            _insert(conn, model, rows)
        if conn.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for table in ("finding", "finding_version"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))  # fmt: skip
    engine.dispose()


FLOOR_QUERY = """
SELECT f.round_key, f.credit_code, e.name, e.division_code, v.version, v.result, v.check_date,
       v.description, v.measures, v.created_at, r.plan_hash, r.window_start, r.window_end
FROM finding_version v JOIN finding f ON f.id = v.finding_id
JOIN enterprise e ON e.credit_code = f.credit_code JOIN round r ON r.round_key = f.round_key
ORDER BY f.round_key, f.credit_code, v.version
"""


def floor(engine: sa.Engine, site: Path, out: Path) -> tuple[float, float, int]:
    """One DBAPI read of the published rows, then the site's bytes written file by file with
    a SHA-256 each (the manifest's); seconds (wall, and this process's CPU) and rows read."""
    files = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    raw = engine.raw_connection()
    gc.collect()  # as before each run: none pays for an earlier one's garbage
    try:
        t, cpu = time.perf_counter(), time.process_time()
        cur = raw.cursor()
        cur.execute(FLOOR_QUERY)
        rows = cur.fetchall()
        cur.close()
        manifest = {}
        for rel, data in files.items():
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            manifest[str(rel)] = hashlib.sha256(data).hexdigest()
        (out / ".floor-manifest.json").write_text(json.dumps(manifest))
        return time.perf_counter() - t, time.process_time() - cpu, len(rows)
    finally:
        raw.close()


def database(postgres_url: str, tmp: str) -> str:
    if not postgres_url:
        return f"sqlite:///{tmp}/bench.db"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"bench_publish_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


def drop_database(postgres_url: str) -> None:
    if postgres_url:
        admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"bench_publish_{os.getpid()}"
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--postgres-url", default="", help="a fresh database on this server")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        url = database(args.postgres_url, tmp)
        try:
            run(url, Path(tmp), args)
        finally:
            drop_database(args.postgres_url)


def run(url: str, tmp: Path, args: argparse.Namespace) -> None:
    from findings import service
    from findings.schemas import FindingIn
    from shuangsui.config import Settings
    from shuangsui.db import make_engine
    from website import site
    from website.site import publish

    hook_seconds: list[float] = []

    def timed(hook):  # type: ignore[no-untyped-def]
        def run_hook(session, versions):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            hook(session, versions)
            hook_seconds.append(time.perf_counter() - t)

        return run_hook

    site.after_record_hooks[:] = [timed(h) for h in site.after_record_hooks]
    t = time.perf_counter()
    fill(url, args.results, args.rounds)
    print(f"fill: {args.results} results in {args.rounds} rounds, {time.perf_counter() - t:.1f} s")
    engine = make_engine(url)
    settings = Settings(home=tmp, database_url=url)
    out = tmp / "site"
    figures = []
    for label in ("full (empty output directory)", "again, nothing changed"):
        gc.collect()  # the collector's debt of the fill or the run before is not this run's
        t, cpu = time.perf_counter(), time.process_time()
        rep = publish(engine, out, settings=settings, bundles=False)
        figures.append(
            (label, time.perf_counter() - t, time.process_time() - cpu, len(rep.written),
             rep.unchanged)
        )  # fmt: skip
        print(f"{label}: rounds read again: {len(rep.reread)}")
    floor_s, floor_cpu, floor_rows = floor(engine, out, tmp / "floor")
    code = f"91{DIVISIONS[7]}{7:010d}"
    service.submit(
        engine,
        round_key="r-000",
        credit_code=code,
        submitted_by="coordinator:b",
        data=FindingIn.model_validate(
            {"result": "other", "check_date": "2026-12-01", "reason": "更正"}
        ),
        signers=["I0", "I1"],
    )
    gc.collect()
    t, cpu = time.perf_counter(), time.process_time()
    rep = publish(engine, out, settings=settings, bundles=False)
    figures.append(
        ("incremental, after one change", time.perf_counter() - t, time.process_time() - cpu,
         len(rep.written), rep.unchanged)
    )  # fmt: skip
    engine.dispose()
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    where = "PostgreSQL" if args.postgres_url else "SQLite"
    print(f"site: {len(files)} files, {size / 1e6:.1f} MB; {where}")
    full, full_cpu = figures[0][1], figures[0][2]
    print("| run | seconds | CPU s (this process) | files written | files unchanged | vs (wall) "
          "| vs (CPU) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|---|")
    print(f"| floor: one DBAPI read ({floor_rows:,} rows) + the same bytes written, SHA-256 each "
          f"| {floor_s:.2f} | {floor_cpu:.2f} | {len(files)} | | 1.00x | 1.00x |")  # fmt: skip
    aims = ["**{:.2f}x** the floor (aim <= 2x)", "**{:.2f}x** the full (aim <= 0.1x)",
            "**{:.2f}x** the full (aim <= 0.1x)"]  # fmt: skip
    for (label, secs, cpu, written, unchanged), aim in zip(figures, aims, strict=True):
        wall_ratio = secs / floor_s if aim.endswith("2x)") else secs / full
        cpu_ratio = cpu / floor_cpu if aim.endswith("2x)") else cpu / full_cpu
        print(f"| {label} | {secs:.2f} | {cpu:.2f} | {written} | {unchanged} "
              f"| {aim.format(wall_ratio)} | {cpu_ratio:.2f}x |")  # fmt: skip
    print("incremental wrote:", ", ".join(rep.written), "; read again:", ", ".join(rep.reread))
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if hook_seconds:
        print(f"of the full publish, the partner-log hook (share {args.results:,} results): "
              f"{hook_seconds[0]:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
