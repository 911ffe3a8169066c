"""Benchmark of replacing a team member (docs/draw-algorithm.md §14) on a generated registry.

One run, figures side by side, each the median of ``--times`` replacements:
  * floor            — parsing the round's committed inputs alone (``rounds.artifacts``
                       ``load_inputs`` from a cold cache): what a replacement must read to pick;
  * replacement      — ``rounds.replacements.replace_member`` as the page, the API and
                       ``round replace`` call it: the whole call, and the part inside the write
                       transaction, which on SQLite holds the database's write lock (every
                       finding submitted meanwhile waits on it);
  * inputs inside    — the same with the inputs parsed inside the write, as before they were
                       parsed first: the lock held for the parse too.
  * round verify     — ``rounds.bundle.recompute`` with the replacements replayed.

Usage (from the repository root, after `make bench`):
  .venv/bin/python bench/bench_replace.py [--enterprises N] [--inspectors M] [--workdir DIR]
                                          [--postgres-url URL] [--times K]
It uses (and makes once, if missing) bench_draw.py's registry in the same --workdir.
Never asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--enterprises", type=int, default=200_000)
    ap.add_argument("--inspectors", type=int, default=1_000)
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "shuangsui-bench-draw"
    )
    ap.add_argument("--postgres-url", default="")
    ap.add_argument("--times", type=int, default=5)
    args = ap.parse_args()
    database = "PostgreSQL" if args.postgres_url else "SQLite"
    work: Path = args.workdir / f"{args.enterprises}-{args.inspectors}-{database.lower()}"
    if not (work / "imported.ok").exists():
        print("no registry yet: run bench/bench_draw.py with the same options first")
        return 2
    os.environ["SHUANGSUI_HOME"] = str(work / "home")
    import bench_draw

    pg_name = f"shuangsui_bench_draw_{args.enterprises}_{args.inspectors}"
    os.environ["SHUANGSUI_DATABASE_URL"] = (
        bench_draw._postgres_database(args.postgres_url, pg_name)
        if args.postgres_url
        else f"sqlite:///{work / 'registry.db'}"
    )
    from sqlmodel import Session

    from rounds import artifacts, bundle, replacements, service
    from rounds.models import Assignment
    from shuangsui import writes
    from shuangsui.db import get_engine, migrate

    migrate(os.environ["SHUANGSUI_DATABASE_URL"])
    engine = get_engine()
    bench_draw.drop_rounds(engine)
    committed = service.commit_round(engine=engine, plan_text=bench_draw.PLAN, plan_source="bench")
    entropy = service.EntropyInput(witness_digits="31415926535897932384", witnesses=("bench",))
    rnd = service.draw_round(engine=engine, round_key=committed.round_key, entropy=entropy)
    key = rnd.round_key
    with Session(engine) as s:
        rows = s.exec(Assignment.__table__.select().where(  # type: ignore[attr-defined]
            Assignment.__table__.c.round_key == key).order_by("credit_code", "position")).all()  # type: ignore[attr-defined]  # fmt: skip
    seats = [(r.credit_code, r.inspector_id) for r in rows if r.position == 0]
    print(f"\nround {key}: {rnd.frame_size:,} enterprises, {len(rows):,} seats ({database})")

    held: list[float] = []
    real_write = writes.write

    def timed_write(*a, **kw):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return real_write(*a, **kw)
        finally:
            held.append(time.perf_counter() - t0)

    replacements.write = timed_write  # type: ignore[assignment]

    def floor() -> float:
        artifacts._parsed.clear()
        t0 = time.perf_counter()
        with Session(engine) as s:
            artifacts.load_inputs(s, key, [])
        return time.perf_counter() - t0

    def one(i: int, *, first: bool) -> tuple[float, float]:
        artifacts._parsed.clear()
        code, who = seats[i]
        keep = replacements._parse_inputs_first
        if not first:
            replacements._parse_inputs_first = lambda engine, round_key: None  # type: ignore[assignment]
        try:
            t0 = time.perf_counter()
            replacements.replace_member(engine, key, code, who, cause="conflict",
                                        note="bench", recorded_by="bench")  # fmt: skip
            return time.perf_counter() - t0, held[-1]
        finally:
            replacements._parse_inputs_first = keep  # type: ignore[assignment]

    floors, now, before = [], [], []
    for i in range(args.times):  # in turns: the machine's load falls on both alike
        floors.append(floor())
        now.append(one(2 * i, first=True))
        before.append(one(2 * i + 1, first=False))
    t0 = time.perf_counter()
    rc = bundle.recompute(engine, key)
    t_verify = time.perf_counter() - t0
    med = statistics.median
    print(f"  floor: committed inputs parsed        {med(floors):7.2f} s")
    print(f"  replacement, inputs parsed first     {med(w for w, _ in now):7.2f} s, "
          f"write lock held {med(h for _, h in now):.2f} s")  # fmt: skip
    print(f"  replacement, inputs parsed in write  {med(w for w, _ in before):7.2f} s, "
          f"write lock held {med(h for _, h in before):.2f} s")  # fmt: skip
    print(f"  round verify, {len(rc.replacements)} replacements replayed  {t_verify:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
