"""Publishing benchmark: a site of N published results rendered in full, again with nothing
changed, and again after one change (a signed correction of one finding), beside the floor,
in one run.

    .venv/bin/python bench/bench_publish.py [--results 20000] [--rounds 10]
        [--postgres-url postgresql+psycopg://...]

The database (SQLite in a temporary directory, or a fresh PostgreSQL database on that server,
dropped at the end) is filled straight through SQLAlchemy Core with synthetic drawn rounds (no
frames: verification bundles are not part of this measurement, they are written once per
round and never again). The floor is the DBAPI and the standard library doing the same
reads and writes with nothing between, in the same run: the rows the publish reads, as its
statements read them (each version's stored content and hash, for the check before anything
is written; the final versions, the database testing each against its team's sign-offs; the
drawn enterprises with their names); the same files' bytes (those the full publish wrote,
read back before the timing) written with a SHA-256 of each for the manifest; and the same
rows the publish writes beside its files (its ``published_result`` rows, and the partner
log's entries and subtree nodes, read back from its database before the timing) inserted
into a copy of the database as it was before the publish (COPY on PostgreSQL, executemany on
SQLite), each log entry's leaf hash and the subtree hashes computed with hashlib, one commit.
It renders, encodes and decides nothing in Python: it is what moving the same data costs.
(Until 2026-12-02 the floor wrote the files only and read the versions only; until
2026-12-06 it read every assignment and sign-off, which the publish no longer reads, and no
version's content, which the publish reads for its check; until 2026-12-07 it wrote each
file in place without syncing it, where the publish must sync each file before its rename and
each folder after them; docs/benchmarks.md keeps the figures against those floors.)
Aims (issue 17): full <= 2x the floor; unchanged and incremental <= 0.1x the full (the full
is the median of three publishes, each on its own copy of the filled database; the incremental
the median of five, each after its own change). The floor's bytes include what the publish
keeps beside the site (the manifest, the publish state and the rounds' parts under
``.parts/``).
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
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pg_admin  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from peak_memory import describe, step_peak  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import shuangsui.models  # noqa: E402,F401
from findings.models import Finding, FindingSignoff, FindingVersion  # noqa: E402
from findings.schemas import content_digest  # noqa: E402
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
                content = {
                    "result": rng.choice(RESULTS),
                    "check_date": "2026-12-10",
                    "description": "",
                    "certificates": [],
                    "evidence": [],
                    "measures": [],
                    "internal_note": "",
                }
                vers.append(  # its hash as submitted: the publish checks it
                    content
                    | {
                        "id": i + 1,
                        "finding_id": i + 1,
                        "version": 1,
                        "check_date": dt.date(2026, 12, 10),
                        "reason": "",
                        "submitted_by": "inspector:I0",
                        "content_hash": content_digest(content),
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


FLOOR_READS = (
    # the check of every version's stored content against its hash, before anything is written
    # (findings.integrity.check_contents: the columns as text, as they are hashed)
    """SELECT f.round_key, f.credit_code, v.version, v.content_hash, v.reason, v.submitted_by,
              v.result, CAST(v.check_date AS TEXT), v.description, CAST(v.certificates AS TEXT),
              CAST(v.measures AS TEXT), CAST(v.evidence AS TEXT), v.internal_note
       FROM finding_version v JOIN finding f ON f.id = v.finding_id""",
    # the versions shown: the final ones, the database testing each against its team's
    # sign-offs (website.results.final)
    """SELECT f.round_key, f.credit_code, v.id, v.finding_id, v.version, v.result, v.check_date,
              v.description, CAST(v.certificates AS TEXT), CAST(v.measures AS TEXT), v.reason
       FROM finding_version v JOIN finding f ON f.id = v.finding_id
       WHERE EXISTS (SELECT 1 FROM assignment a
                     WHERE a.round_key = f.round_key AND a.credit_code = f.credit_code)
         AND NOT EXISTS (SELECT 1 FROM assignment a
                         WHERE a.round_key = f.round_key AND a.credit_code = f.credit_code
                           AND NOT EXISTS (SELECT 1 FROM finding_signoff s
                                           WHERE s.version_id = v.id
                                             AND s.inspector_id = a.inspector_id))
       ORDER BY f.round_key, f.credit_code, v.version""",
    # what each round drew, with the enterprises' names
    """SELECT s.round_key, s.credit_code, s.stratum, s.kind, e.name, e.division_code
       FROM selection s LEFT JOIN enterprise e ON e.credit_code = s.credit_code
       ORDER BY s.round_key, s.credit_code""",
)
# the rows a full publish writes beside its files: each result's publication, and each
# result's entry in the partner log with the log's subtree nodes
FLOOR_WRITES = ("published_result", "exchange_entry", "exchange_node")


FLOOR_RUNS = 3  # the floor is half a second: its median of three, each into its own copy
# A full publish swings by a third between runs here, and it is the denominator of the two
# other aims: the median of three, the first on the filled database, the others each on its
# own copy of it (a full publish records every result, so it cannot run twice on one).
FULL_RUNS = 3
INCREMENTAL_RUNS = 5  # one change each, then a publish: their median
# the copies of the filled database: one per floor run, one per full publish after the first
TWINS = (*(f"floor{i}" for i in range(FLOOR_RUNS)), *(f"full{i}" for i in range(1, FULL_RUNS)))


def twin(url: str, postgres_url: str, tmp: Path, name: str) -> str:
    """A copy of the filled database, before any publish, for the floor to write into or a
    full publish to run on."""
    if not postgres_url:
        shutil.copy(tmp / "bench.db", tmp / f"{name}.db")
        return f"sqlite:///{tmp}/{name}.db"
    return database(postgres_url, str(tmp), f"_{name}", template=make_url(url).database)


def _merkle(leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 subtree hashes over ``leaves``, one per node the log stores (a frontier)."""
    nodes: list[bytes] = []
    stack: list[tuple[int, bytes]] = []
    for h in leaves:
        level = 0
        while stack and stack[-1][0] == level:
            h = hashlib.sha256(b"\x01" + stack.pop()[1] + h).digest()
            level += 1
            nodes.append(h)
        stack.append((level, h))
    return nodes


Written = dict[str, tuple[list[str], Sequence[Any]]]  # table -> (columns, rows)


def publish_output(published: sa.Engine, site: Path) -> tuple[dict[Path, bytes], Written]:
    """What the full publish wrote: its files' bytes, and the rows of ``FLOOR_WRITES``, read
    back once (untimed) for every run of the floor."""
    files = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    rows = {}
    with published.connect() as conn:
        for table in FLOOR_WRITES:
            result = conn.exec_driver_sql(f"SELECT * FROM {table}")
            rows[table] = (list(result.keys()), result.fetchall())
    return files, rows


def floor(
    files: dict[Path, bytes], writes: Written, twin_url: str, out: Path
) -> tuple[float, float, int]:
    """The same reads and writes as the full publish, with the DBAPI and hashlib and nothing
    between: the rows the publish reads; its files' bytes written with a SHA-256 each (the
    manifest's), each as the publish must write it (``shuangsui.files.write_atomic``: a
    temporary file synced, then renamed over the target; each folder synced once after them,
    docs/operations.md, "Killed at any instant"); the rows it wrote (``publish_output``)
    inserted into a copy of the database as it was before it (COPY on PostgreSQL, executemany
    on SQLite), with each log entry's leaf hash and the subtree hashes computed; one commit.
    Seconds (wall, and this process's CPU) and rows read."""
    from shuangsui.db import make_engine
    from shuangsui.files import fsync_dir, write_atomic

    engine = make_engine(twin_url)
    raw = engine.raw_connection()
    postgres = engine.dialect.name == "postgresql"
    gc.collect()  # as before each run: none pays for an earlier one's garbage
    try:
        t, cpu = time.perf_counter(), time.process_time()
        cur = raw.cursor()
        read = 0
        for sql in FLOOR_READS:
            cur.execute(sql)
            read += len(cur.fetchall())
        manifest = {}
        for rel, data in files.items():  # as the publish must: each in place whole, synced
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data, sync_folder=False)
            manifest[str(rel)] = hashlib.sha256(data).hexdigest()
        write_atomic(out / ".floor-manifest.json", json.dumps(manifest).encode(), sync_folder=False)
        for folder in {out, *((out / rel).parent for rel in files)}:  # each folder once
            fsync_dir(folder)
        columns, entries = writes["exchange_entry"]
        body = columns.index("body")
        _merkle([hashlib.sha256(b"\x00" + e[body].encode()).digest() for e in entries])
        for table, (columns, rows) in writes.items():
            names = ", ".join(f'"{c}"' for c in columns)
            if postgres:
                with raw.driver_connection.cursor().copy(  # type: ignore[union-attr]
                    f"COPY {table} ({names}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        raw.commit()
        return time.perf_counter() - t, time.process_time() - cpu, read
    finally:
        raw.close()
        engine.dispose()


def database(postgres_url: str, tmp: str, suffix: str = "", template: str | None = None) -> str:
    """SQLite in ``tmp``, or a new database on the PostgreSQL server (a copy of ``template``)."""
    if not postgres_url:
        return f"sqlite:///{tmp}/bench.db"
    return pg_admin.fresh(postgres_url, f"bench_publish_{os.getpid()}{suffix}", template=template)


def drop_database(postgres_url: str, suffix: str = "") -> None:
    if postgres_url:
        pg_admin.drop(postgres_url, f"bench_publish_{os.getpid()}{suffix}")


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
            for name in TWINS:
                drop_database(args.postgres_url, f"_{name}")
            drop_database(args.postgres_url)


def run(url: str, tmp: Path, args: argparse.Namespace) -> None:
    from findings import service
    from findings.schemas import FindingIn
    from shuangsui.config import Settings
    from shuangsui.db import make_engine
    from website import site
    from website.site import publish

    # the hook's seconds in each publish (it is called a chunk of versions at a time)
    hook_seconds: dict[str, float] = {}
    phase = [""]

    def timed(hook):  # type: ignore[no-untyped-def]
        def run_hook(session, versions):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            hook(session, versions)
            hook_seconds[phase[0]] = hook_seconds.get(phase[0], 0.0) + time.perf_counter() - t

        return run_hook

    site.after_record_hooks[:] = [timed(h) for h in site.after_record_hooks]
    t = time.perf_counter()
    fill(url, args.results, args.rounds)
    print(f"fill: {args.results} results in {args.rounds} rounds, {time.perf_counter() - t:.1f} s")
    twins = [twin(url, args.postgres_url, tmp, name) for name in TWINS]
    engine = make_engine(url)
    settings = Settings(home=tmp, database_url=url)
    out = tmp / "site"
    figures, memory = [], {}
    full_label = "full (empty output directory)"
    fulls = []  # (wall, CPU, written, unchanged): the first on the filled database, as the rest
    for i, (on, site_dir) in enumerate(
        [(url, out)] + [(u, tmp / f"site-full{n}") for n, u in enumerate(twins[FLOOR_RUNS:], 1)]
    ):
        phase[0] = full_label if i == 0 else f"full {i + 1}"
        db = engine if on == url else make_engine(on)
        gc.collect()  # the collector's debt of the fill or the run before is not this run's
        with step_peak() as memory[phase[0]]:
            t, cpu = time.perf_counter(), time.process_time()
            rep = publish(db, site_dir, settings=Settings(home=tmp, database_url=on),
                          bundles=False)  # fmt: skip
            t, cpu = time.perf_counter() - t, time.process_time() - cpu
        fulls.append((t, cpu, len(rep.written), rep.unchanged))
        if db is not engine:
            db.dispose()
        print(f"{phase[0]}: rounds read again: {len(rep.reread)}")
    full, full_cpu = (statistics.median(f[i] for f in fulls) for i in range(2))
    figures.append((f"{full_label}, median of {FULL_RUNS}", full, full_cpu, *fulls[0][2:]))
    phase[0] = "again, nothing changed"
    gc.collect()
    t, cpu = time.perf_counter(), time.process_time()
    rep = publish(engine, out, settings=settings, bundles=False)
    t, cpu = time.perf_counter() - t, time.process_time() - cpu
    figures.append((phase[0], t, cpu, len(rep.written), rep.unchanged))
    print(f"{phase[0]}: rounds read again: {len(rep.reread)}")
    output_files, output_rows = publish_output(engine, out)
    floors = [
        floor(output_files, output_rows, t, tmp / f"floor{i}")
        for i, t in enumerate(twins[:FLOOR_RUNS])
    ]
    floor_s, floor_cpu, floor_rows = (statistics.median(f[i] for f in floors) for i in range(3))
    print("floor runs (wall / CPU s):", ", ".join(f"{f[0]:.2f} / {f[1]:.2f}" for f in floors))
    print("full runs (wall / CPU s):", ", ".join(f"{f[0]:.2f} / {f[1]:.2f}" for f in fulls))
    code = f"91{DIVISIONS[7]}{7:010d}"
    incrementals = []
    for i in range(INCREMENTAL_RUNS):  # a signed correction of one finding, then a publish
        service.submit(
            engine,
            round_key="r-000",
            credit_code=code,
            submitted_by="coordinator:b",
            data=FindingIn.model_validate(
                {
                    "result": ("other", "no_problem")[i % 2],
                    "check_date": "2026-12-01",
                    "reason": f"更正 {i + 1}",
                }
            ),  # fmt: skip
            signers=["I0", "I1"],
        )
        gc.collect()
        t, cpu = time.perf_counter(), time.process_time()
        rep = publish(engine, out, settings=settings, bundles=False)
        incrementals.append((time.perf_counter() - t, time.process_time() - cpu))
    print("incremental runs (wall / CPU s):",
          ", ".join(f"{w:.2f} / {c:.2f}" for w, c in incrementals))  # fmt: skip
    figures.append(
        (f"incremental, after one change, median of {INCREMENTAL_RUNS}",
         *(statistics.median(r[i] for r in incrementals) for i in range(2)),
         len(rep.written), rep.unchanged)
    )  # fmt: skip
    engine.dispose()
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    where = "PostgreSQL" if args.postgres_url else "SQLite"
    print(f"site: {len(files)} files, {size / 1e6:.1f} MB; {where}")
    print("| run | seconds | CPU s (this process) | files written | files unchanged | vs (wall) "
          "| vs (CPU) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|---|")
    print(f"| floor (median of {FLOOR_RUNS}): the same reads ({floor_rows:,} rows), files "
          f"(SHA-256 each) and rows written "
          f"| {floor_s:.2f} | {floor_cpu:.2f} | {len(files)} | | 1.00x | 1.00x |")  # fmt: skip
    aims = ["**{:.2f}x** the floor (aim <= 2x)", "**{:.2f}x** the full (aim <= 0.1x)",
            "**{:.2f}x** the full (aim <= 0.1x)"]  # fmt: skip
    for (label, secs, cpu, written, unchanged), aim in zip(figures, aims, strict=True):
        wall_ratio = secs / floor_s if aim.endswith("2x)") else secs / full
        cpu_ratio = cpu / floor_cpu if aim.endswith("2x)") else cpu / full_cpu
        print(f"| {label} | {secs:.2f} | {cpu:.2f} | {written} | {unchanged} "
              f"| {aim.format(wall_ratio)} | {cpu_ratio:.2f}x |")  # fmt: skip
    print(
        "incremental wrote:",
        ", ".join(rep.written),
        "; read again:",
        ", ".join(rep.reread),
        "; of which only the findings added since:",
        ", ".join(rep.read_in_part) or "none",
    )
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if full_label in hook_seconds:
        print(f"of the first full publish, the partner-log hook (share {args.results:,} "
              f"results): {hook_seconds[full_label]:.2f} s")  # fmt: skip
    print("memory of the first full publish:", describe(memory[full_label]))


if __name__ == "__main__":
    main()
