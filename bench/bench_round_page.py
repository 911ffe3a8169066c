"""A round's page on the coordinator's workspace (``workspace.overview.round_view``: every
enterprise of the round with its team, its notices and where its finding stands), beside its
floor.

    .venv/bin/python bench/bench_round_page.py --database URL [--round KEY] [--runs 5]

``URL`` names a database holding a drawn round: ``bench/bench_draw.py`` leaves one (its round
``bench-all``: 200,000 enterprises draw 7,588, 15,176 seats and notices), in its SQLite file or
its PostgreSQL database. Nothing is written.

The floor, in turns with the page's read: the same rows by the leanest code, on the DBAPI
connection: the round's selections with their enterprises' names, its seats with their
inspectors' names (grouped into teams in Python), its notices counted by enterprise and status
in SQL, its finding versions; a tuple a row made, sorted as the page sorts them. What the page
does beyond it (each finding's state, the late list, the labels) is its own cost.

Prints wall and CPU (``time.process_time``) medians and the page over the floor; asserts
nothing about time.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from shuangsui.config import get_settings
from workspace import overview

FLOOR_SQL = {
    "selections": "SELECT s.credit_code, s.kind, s.stratum, s.rank, e.name FROM selection s "
    "LEFT JOIN enterprise e ON e.credit_code = s.credit_code WHERE s.round_key = :k",
    "seats": "SELECT a.credit_code, a.inspector_id, i.name FROM assignment a LEFT JOIN inspector "
    "i ON i.inspector_id = a.inspector_id WHERE a.round_key = :k "
    "ORDER BY a.credit_code, a.position",
    "versions": "SELECT f.credit_code, v.version, v.result FROM finding f JOIN finding_version v "
    "ON v.finding_id = f.id WHERE f.round_key = :k",
}


def floor(engine: sa.Engine, round_key: str) -> int:
    """The page's rows by the leanest code: the reads, teams grouped, notices counted."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(FLOOR_SQL["selections"]), {"k": round_key}).all()
        teams: dict[str, list[str]] = {}
        for code, inspector_id, name in conn.execute(sa.text(FLOOR_SQL["seats"]), {"k": round_key}):
            teams.setdefault(code, []).append(name or inspector_id)
        about = {"sqlite": "json_extract(payload, '$.credit_code')"}.get(
            engine.dialect.name, "payload->>'credit_code'"
        )
        notices = (
            f"SELECT {about}, status, count(*) FROM notification WHERE round_key = :k GROUP BY 1, 2"
        )
        sent: dict[str, Counter[str]] = {}
        for code, status, n in conn.execute(sa.text(notices), {"k": round_key}):
            sent.setdefault(code or "", Counter())[status] += n
        conn.execute(sa.text(FLOOR_SQL["versions"]), {"k": round_key}).all()
    out = [
        (code, name or code, kind, stratum, teams.get(code, []), sent.get(code))
        for code, kind, stratum, _rank, name in sorted(
            rows, key=lambda r: (r[1] != "targeted", r[2], r[3])
        )
    ]
    return len(out)


def page(engine: sa.Engine, round_key: str) -> int:
    view = overview.round_view(engine, get_settings(), round_key)
    assert view is not None, f"no round {round_key}"
    return len(view.rows)


def timed(work: object, *args: object) -> tuple[float, float, int]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    n = work(*args)  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True, help="a SQLAlchemy URL")
    parser.add_argument("--round", default="bench-all")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    engine = sa.create_engine(args.database)
    page(engine, args.round)  # templates, plans and divisions loaded, caches warm
    floor(engine, args.round)
    pages, floors = [], []
    for _ in range(args.runs):
        pages.append(timed(page, engine, args.round))
        floors.append(timed(floor, engine, args.round))
    assert {n for *_, n in pages} == {n for *_, n in floors}, (pages, floors)
    wall_p, cpu_p = (statistics.median(x[i] for x in pages) for i in (0, 1))
    wall_f, cpu_f = (statistics.median(x[i] for x in floors) for i in (0, 1))
    print(f"{engine.dialect.name}, round {args.round}: {pages[0][2]:,} enterprises")
    print(f"{'':12}{'wall s':>10}{'cpu s':>10}")
    print(f"{'page':12}{wall_p:>10.3f}{cpu_p:>10.3f}")
    print(f"{'floor':12}{wall_f:>10.3f}{cpu_f:>10.3f}")
    print(f"{'page/floor':12}{wall_p / wall_f:>9.2f}x{cpu_p / cpu_f:>9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
