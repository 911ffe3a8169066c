"""The coordinator's ``GET /deadlines``, a page at a time, on a copy of a bureau's database.

    .venv/bin/python bench/bench_deadlines.py --database PATH/shuangsui.db [--limit 100]

The SQLite database (a bureau's, or a simulated one: no bench here makes five years of
rounds and findings) is copied into a temporary folder first: the original is never written
(a coordinator token is made in the copy). Through the application's own routes (FastAPI's
test client, in this process): the first page and every page of a walk to the end, five
walks, with ``all=true`` and without; beside them ``GET /rounds?limit=1``, a page that reads
one row, for what a request costs before its list. Prints wall and CPU
(``time.process_time``) medians, the items, the pages and a digest of the walked body (the
same before and after a change that must not change it); asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from api import tokens  # noqa: E402
from api.app import create_app  # noqa: E402
from shuangsui.config import get_settings  # noqa: E402

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

WALKS = 5


class Timed:
    """A client of the API that keeps the wall and CPU seconds of each request."""

    def __init__(self, engine: sa.Engine) -> None:
        token = tokens.create_coordinator(engine, "bench-deadlines", get_settings().bureau_code)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.client = TestClient(create_app(engine=engine))

    def get(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        r = self.client.get(url, params=params, headers=self.auth)
        assert r.status_code == 200, r.text
        return r, time.perf_counter() - wall, time.process_time() - cpu


def walk(api: Timed, params: dict[str, Any]) -> tuple[list[Any], list[tuple[float, float]]]:
    """Every item of the list, following the next links, and each page's (wall, CPU)."""
    r, wall, cpu = api.get("/deadlines", params)
    items, times = list(r.json()), [(wall, cpu)]
    while "next" in r.links:
        r, wall, cpu = api.get(r.links["next"]["url"])
        items += r.json()
        times.append((wall, cpu))
    return items, times


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}"


def both(times: list[tuple[float, float]]) -> str:
    """The medians of (wall, CPU) pairs, as printed."""
    return f"wall {median([w for w, _ in times])} s, CPU {median([c for _, c in times])} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database", type=Path, required=True, help="a SQLite database (copied)")
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # deadlines in years without holiday data warn per item
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "shuangsui.db"
        shutil.copy(args.database, copy)
        api = Timed(sa.create_engine(f"sqlite:///{copy}"))
        one_row = [api.get("/rounds", {"limit": 1})[1:] for _ in range(20)]
        print(
            "GET /rounds?limit=1 (a request reading one row): "
            f"wall {median([w for w, _ in one_row])} s, CPU {median([c for _, c in one_row])} s"
        )
        for everything in (True, False):
            params = {"limit": args.limit} | ({"all": "true"} if everything else {})
            walks = [walk(api, params) for _ in range(WALKS)]
            items = walks[0][0]
            assert all(w[0] == items for w in walks), "the walks differ"
            first = [times[0] for _, times in walks]
            later = [t for _, times in walks for t in times[1:]] or [(0.0, 0.0)]
            whole = [tuple(map(sum, zip(*times, strict=True))) for _, times in walks]
            print(
                f"all={str(everything).lower()}: {len(items)} items, {len(walks[0][1])} pages "
                f"of {args.limit}; first page {both(first)}; a later page {both(later)}; "
                f"a whole walk {both(whole)}; "
                f"body sha256 {hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
