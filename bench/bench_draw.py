"""Benchmark of the draw on a generated registry (default 1,000,000 enterprises, 5,000 inspectors).

One run, figures side by side:
  * frame load     — reading the eligible population and inspectors from the database alone;
  * its floor      — the same reads through the bare DBAPI connection, same run, the fastest
                     of three ways: ``fetchall`` of the same columns + certificates grouped by
                     enterprise in a dict; both tables read in credit-code order and joined
                     as they pass (as shuangsui does on SQLite); one query joining them in
                     credit-code order, streamed (as shuangsui does on PostgreSQL);
  * whole draw     — commit (frames, commitments, artifacts) + entropy + seed + selection +
                     teams + persistence, as `shuangsui round commit` + `round draw` do it;
  * verify.py      — the bundle's stdlib-only verifier, as an outsider runs it;
  * selection step — shuangsui's tickets + per-stratum order on the frame's ids, against
                     Rivest's consistent_sampler (PyPI `consistent-sampler`) on the same ids.

Usage (from the repository root, after `make bench`):
  .venv/bin/python bench/bench_draw.py [--enterprises N] [--inspectors M] [--workdir DIR]
                                       [--postgres-url URL] [--draws K]
SQLite by default; with --postgres-url the registry lives in a database
``shuangsui_bench_draw_N_M`` on that server instead. The registry is generated and imported
once (kept for re-runs).
Never asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import groupby
from operator import itemgetter
from pathlib import Path

PLAN = """
id: bench-all
check_item: RZ-05
period: '2026-12'
title: 基准测试：自愿性认证不定向抽查
legal_basis: ['国市监信〔2019〕38号']
population:
  cert_kinds: [organic, management_system, voluntary_other]  # the kinds RZ-05 covers
  cert_statuses: [valid, suspended]
  divisions: ['350000']
strata:
  by: [division, risk_class]
  rates: {A: '1%', B: '3%', C: '10%', D: '30%'}
  min_per_stratum: 1
targeted:
  include_abnormal_listed: true
teams:
  size: 2
  workload_cap: 60
window:
  start: 2026-12-07
  end: 2026-12-31
disclosure: on-draw  # the list is public at the draw: the partner-log hook runs in it
"""


def _timed(label: str, fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<34} {dt:8.2f} s", flush=True)
    return out, dt


def _postgres_database(url: str, name: str, *, fresh: bool = False) -> str:
    """The URL of database ``name`` on the server of ``url``, created if missing (anew if
    ``fresh``)."""
    import pg_admin
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    if fresh:
        pg_admin.drop(url, name)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


FLOOR_ROUNDS = 3  # frame loads are short: take the best of a few, for both sides alike


def frame_load_floor(engine, kinds: list[str]) -> int:  # type: ignore[no-untyped-def]
    """The leanest code doing the frame load's reads: the DBAPI cursor, ``fetchall`` of the same
    columns, certificates grouped by enterprise in a dict, the same active/has-cert filter."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        in_list = ", ".join(f"'{k}'" for k in kinds)  # plan values: fixed enumeration words
        cur.execute(f"SELECT credit_code, kind, status FROM certificate WHERE kind IN ({in_list})")
        certs: dict[str, list[tuple[str, str]]] = {}
        for code, kind, status in cur.fetchall():
            certs.setdefault(code, []).append((kind, status))
        cur.execute(
            "SELECT credit_code, division_code, risk_class, industry, abnormal_listed,"
            " serious_violation FROM enterprise WHERE status = 'active'"
        )
        rows = [
            (code, division, risk, industry, abnormal, serious, certs[code])
            for code, division, risk, industry, abnormal, serious in cur.fetchall()
            if code in certs
        ]
        cur.execute("SELECT * FROM inspector")
        cur.fetchall()
        cur.close()
    finally:
        raw.close()
    return len(rows)


def frame_load_floor_merged(engine, kinds: list[str]) -> int:  # type: ignore[no-untyped-def]
    """The same reads the way shuangsui's own load does them on SQLite: both tables in
    credit-code order, joined as they pass (``itertools.groupby``), the rows counted rather
    than kept. The floor of the summary is the fastest of the three."""
    order = 'COLLATE "C"' if engine.dialect.name == "postgresql" else "|| '' COLLATE BINARY"
    raw = engine.raw_connection()
    try:
        certs, firms, cur = raw.cursor(), raw.cursor(), raw.cursor()
        in_list = ", ".join(f"'{k}'" for k in kinds)
        certs.execute(
            f"SELECT credit_code, kind, status FROM certificate WHERE kind IN ({in_list})"
            f" ORDER BY credit_code {order}"
        )
        firms.execute(
            "SELECT credit_code, division_code, risk_class, industry, abnormal_listed,"
            " serious_violation FROM enterprise WHERE status = 'active'"
            f" ORDER BY credit_code {order}"
        )
        pair = itemgetter(1, 2)
        held = ((code, tuple(map(pair, g))) for code, g in groupby(certs, key=itemgetter(0)))
        held_code, _ = next(held, (None, ()))
        rows = 0
        for code, *_ in firms:
            while held_code is not None and held_code < code:
                held_code, _ = next(held, (None, ()))
            rows += held_code == code
        cur.execute("SELECT * FROM inspector")
        cur.fetchall()
        for c in (certs, firms, cur):
            c.close()
    finally:
        raw.close()
    return rows


def frame_load_floor_joined(engine, kinds: list[str]) -> int:  # type: ignore[no-untyped-def]
    """The same reads as one query joining the two tables in credit-code order, its rows
    grouped by enterprise as they pass, each enterprise's certificates made a tuple as the
    other floors make them (PostgreSQL: psycopg's ``stream``, as shuangsui's load reads there;
    SQLite: the cursor as it steps)."""
    order = 'COLLATE "C"' if engine.dialect.name == "postgresql" else "|| '' COLLATE BINARY"
    in_list = ", ".join(f"'{k}'" for k in kinds)
    joined = (
        "SELECT e.credit_code, e.division_code, e.risk_class, e.industry, e.abnormal_listed,"
        " e.serious_violation, c.kind, c.status FROM enterprise e"
        " JOIN certificate c ON c.credit_code = e.credit_code"
        f" WHERE e.status = 'active' AND c.kind IN ({in_list}) ORDER BY e.credit_code {order}"
    )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            rows_in = cur.stream(joined, size=50_000)
        else:
            rows_in = cur.execute(joined)
        rows, pair = 0, itemgetter(6, 7)
        for _, group in groupby(rows_in, key=itemgetter(0, 1, 2, 3, 4, 5)):
            tuple(map(pair, group))  # its certificates, as the other floors hold them
            rows += 1
        cur.execute("SELECT * FROM inspector")
        cur.fetchall()
        cur.close()
        raw.rollback()
    finally:
        raw.close()
    return rows


DRAWN_TABLES = (  # children first
    "notification", "exchange_cosignature", "exchange_checkpoint", "exchange_node",
    "exchange_entry", "exchange_head", "team_change", "assignment", "selection",
    "round_artifact", "audit_event", "round", "plan_version",
)  # fmt: skip


def drop_rounds(engine) -> None:  # type: ignore[no-untyped-def]
    """Remove earlier bench rounds and what their draws wrote: the notices and our partner
    log (so that a round record is appended anew, not found already there). Each draw of the
    bench is a fresh round. On PostgreSQL the emptied tables are vacuumed: a draw at 1,000,000
    leaves 75,000 dead outbox rows, which the next draw would meet, or the autovacuum they set
    off, in its timing."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        present = set(sa.inspect(conn).get_table_names())
        tables = [t for t in DRAWN_TABLES if t in present]
        for table in tables:
            conn.execute(sa.text(f'DELETE FROM "{table}"'))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM " + ", ".join(f'"{t}"' for t in tables)))


def _best(*fns, rounds: int = FLOOR_ROUNDS) -> list[tuple[object, float, float]]:  # type: ignore[no-untyped-def]
    """For each of ``fns``: output, best wall seconds and best CPU seconds (this process) of a
    few runs, the functions taking turns (a, b, a, b, ...) so that a swing of the machine's
    load falls on both sides rather than on whichever ran second."""
    outs: list[object] = [None] * len(fns)
    walls, cpus = [float("inf")] * len(fns), [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0, c0 = time.perf_counter(), time.process_time()
            outs[i] = fn()
            walls[i] = min(walls[i], time.perf_counter() - t0)
            cpus[i] = min(cpus[i], time.process_time() - c0)
    return list(zip(outs, walls, cpus, strict=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--enterprises", type=int, default=1_000_000)
    ap.add_argument("--inspectors", type=int, default=5_000)
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "shuangsui-bench-draw"
    )
    ap.add_argument("--postgres-url", default="", help="draw on PostgreSQL instead of SQLite")
    ap.add_argument(
        "--draws", type=int, default=1, help="whole draws to time (each a fresh round): the median"
    )
    args = ap.parse_args()
    database = "PostgreSQL" if args.postgres_url else "SQLite"
    work: Path = args.workdir / f"{args.enterprises}-{args.inspectors}-{database.lower()}"
    work.mkdir(parents=True, exist_ok=True)
    os.environ["SHUANGSUI_HOME"] = str(work / "home")
    pg_name = f"shuangsui_bench_draw_{args.enterprises}_{args.inspectors}"
    os.environ["SHUANGSUI_DATABASE_URL"] = (
        _postgres_database(args.postgres_url, pg_name)
        if args.postgres_url
        else f"sqlite:///{work / 'registry.db'}"
    )

    from sqlmodel import Session

    from registry.generate import generate
    from registry.importer import import_files
    from rounds import bundle, frames, service
    from shuangsui.db import get_engine, migrate

    db_ready = work / "imported.ok"
    if not db_ready.exists():
        print(f"preparing: generate + import {args.enterprises:,} enterprises (once)", flush=True)
        (work / "registry.db").unlink(missing_ok=True)
        if args.postgres_url:
            _postgres_database(args.postgres_url, pg_name, fresh=True)
        migrate(os.environ["SHUANGSUI_DATABASE_URL"])
        generate(enterprises=args.enterprises, inspectors=args.inspectors, seed=1, out=work / "csv")
        engine = get_engine()
        kinds = ["check-items", "enterprises", "certificates", "inspectors", "conflicts"]
        with Session(engine) as session:
            import_files(session=session, files=[(k, work / "csv" / f"{k}.csv") for k in kinds])
            session.commit()
        db_ready.touch()
    migrate(os.environ["SHUANGSUI_DATABASE_URL"])  # a registry kept from older code: upgraded
    engine = get_engine()

    from draw.plan import load_plan
    from shuangsui import wiring

    wiring.install()  # as in production: notices and the partner log join the draw's transaction
    hook_seconds: dict[str, float] = {}
    hook_cpu: dict[str, float] = {}

    def timed_hook(hook):  # type: ignore[no-untyped-def]
        def run(*args):  # type: ignore[no-untyped-def]
            t0, c0 = time.perf_counter(), time.process_time()
            hook(*args)
            hook_seconds[hook.__module__] = time.perf_counter() - t0
            hook_cpu[hook.__module__] = time.process_time() - c0

        return run

    from rounds import disclosure

    service.after_draw_hooks[:] = [timed_hook(h) for h in service.after_draw_hooks]
    disclosure.reveal_hooks[:] = [timed_hook(h) for h in disclosure.reveal_hooks]
    plan = load_plan(PLAN)
    print(
        f"\nregistry: {args.enterprises:,} enterprises, {args.inspectors:,} inspectors ({database})"
    )

    def load() -> int:
        with engine.connect() as conn:
            rows = sum(1 for _ in frames.enterprise_rows(conn, plan))  # streamed: counted
            frames.inspector_rows(conn)
        return rows

    kinds = list(plan["population"]["cert_kinds"])
    fetched, merged, joined, (n_rows, t_load, c_load) = _best(
        lambda: frame_load_floor(engine, kinds),
        lambda: frame_load_floor_merged(engine, kinds),
        lambda: frame_load_floor_joined(engine, kinds),
        load,
    )
    for label, (rows, wall, cpu) in (
        ("frame load floor (DBAPI fetchall)", fetched),
        ("frame load floor (DBAPI, in order)", merged),
        ("frame load floor (DBAPI, one join)", joined),
        ("frame load (database only)", (n_rows, t_load, c_load)),
    ):
        print(f"  {label:<34} {wall:8.2f} s  (CPU {cpu:.2f} s; best of {FLOOR_ROUNDS}, in turns)")
        if rows != n_rows:
            print(f"  !! this floor read {rows:,} rows, shuangsui {n_rows:,}")
    # the floor is the fastest of the three; wall and CPU each
    t_floor = min(fetched[1], merged[1], joined[1])
    c_floor = min(fetched[2], merged[2], joined[2])

    parts: dict[str, tuple[float, float]] = {}  # the draw's two steps: wall and CPU seconds

    def whole() -> str:
        t0, c0 = time.perf_counter(), time.process_time()
        rnd = service.commit_round(engine=engine, plan_text=PLAN, plan_source="bench")
        t1, c1 = time.perf_counter(), time.process_time()
        service.draw_round(
            engine=engine,
            round_key=rnd.round_key,
            entropy=service.EntropyInput("31415926535897932384626433", ("bench",)),
        )
        parts["commit"] = (t1 - t0, c1 - c0)
        parts["draw"] = (time.perf_counter() - t1, time.process_time() - c1)
        return rnd.round_key

    draws: list[tuple[float, float, float]] = []  # wall, CPU, wall less the hooks
    for _ in range(args.draws):
        drop_rounds(engine)
        gc.collect()  # untimed: no draw pays for the objects an earlier one left
        c0 = time.process_time()
        key, wall = _timed("whole draw (commit+draw+persist)", whole)
        cpu = time.process_time() - c0
        print(f"    CPU of this process                      {cpu:8.2f} s")
        for step, what in (("commit", "the frame read, built, committed"),
                           ("draw", "selected, teams, persisted, hooks")):  # fmt: skip
            wall_s, cpu_s = parts[step]
            print(f"    {step + ' (' + what + ')':<45} {wall_s:8.2f} s  (CPU {cpu_s:.2f} s)")
        for module, seconds in sorted(hook_seconds.items()):
            hook = f"of which the hook {module}"
            print(f"    {hook:<45} {seconds:8.2f} s  (CPU {hook_cpu[module]:.2f} s)")
        draws.append((wall, cpu, wall - sum(hook_seconds.values())))
    t_draw, c_draw, t_core = (statistics.median(d[i] for d in draws) for i in range(3))
    if args.draws > 1:
        label = f"whole draw, median of {args.draws}"
        print(f"  {label:<40} {t_draw:8.2f} s  (CPU {c_draw:.2f} s)")
    out = work / "bundle"
    _, t_bundle = _timed(
        "write bundle (recompute + files)", lambda: bundle.bundle_round(engine, key, out)
    )
    proc, t_verify = _timed(
        "verify.py (python3 -I -S)",
        lambda: subprocess.run(
            [sys.executable, "-I", "-S", str(out / "verify.py"), str(out)],
            capture_output=True,
            text=True,
            check=False,
        ),  # fmt: skip
    )
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr)

    rnd = service.get_round(engine, key)
    selected = sum(c["drawn"] + c["targeted"] for c in (rnd.counts or {}).values())

    # the selection step alone, on the frame's ids
    with Session(engine) as session:
        inputs = service.load_inputs(session, key)
    ids = [u.credit_code for u in inputs.enterprises if u.status == "random"]
    k = max(1, len(ids) * 3 // 100)
    seed = bytes.fromhex(rnd.seed or "00" * 32)

    def ours() -> list[int]:
        from draw.select import order_uniform, ticket_table

        return order_uniform(ticket_table(seed, ids), ids)[:k].tolist()

    def rivest() -> list[str]:
        from consistent_sampler import sampler

        return list(sampler(ids, seed=rnd.seed, take=k, output="id"))

    print(f"\nselection step on {len(ids):,} ids, sample of {k:,} (3%):")
    _, t_ours = _timed("shuangsui tickets + order", ours)
    try:
        _, t_rivest = _timed("consistent_sampler (baseline)", rivest)
    except ModuleNotFoundError:  # the baseline comes with `make bench`, not the dev install
        print("  consistent_sampler is not installed (`make bench` installs it): no baseline")
        t_rivest = float("nan")

    print("\nsummary")
    print(f"  frame rows {n_rows:,}, frame {rnd.frame_size:,} in scope, selected {selected:,}")
    print(
        f"  frame load / its floor    = {t_load / t_floor:5.2f}x   (aim <= 1.3x; CPU"
        f" {c_load / c_floor:.2f}x)"
    )
    print(
        f"  whole draw / load floor   = {t_draw / t_floor:5.2f}x   (aim <= 3x; with the hooks;"
        f" CPU {c_draw / c_floor:.2f}x)"
    )
    print(f"  whole draw / frame load   = {t_draw / t_load:5.2f}x")
    print(
        f"  draw w/o hooks / frame    = {t_core / t_load:5.2f}x   (frame, seed, selection, teams,"
        " persisted)"
    )
    print(f"  consistent_sampler / ours = {t_rivest / t_ours:5.2f}x   (aim >= 5x)")
    print(f"  verify.py / draw w/o hooks= {t_verify / t_core:5.2f}x   (aim <= 2x)")
    print(f"  bundle: {out} — verify.py exit {proc.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
