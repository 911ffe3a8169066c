"""What checking the kept checkpoint's signature costs a partner's ``GET /checkpoint``.

    .venv/bin/python bench/bench_checkpoint.py [--requests 400] [--rounds 5]
        [--postgres-url postgresql+psycopg://...]

``exchange.log.latest_checkpoint`` loads our key and verifies the kept checkpoint's signature
with it at every request (so a checkpoint signed by a key we no longer hold is signed anew at
the next request). A real API app (uvicorn, 127.0.0.1, a log of 1,000 entries) answers signed
``GET /exchange/v1/checkpoint`` requests from a partner, in rounds that take turns: with the
check as shipped, and without it (``log._signed_by`` answering yes, the key still loaded). In
the same run, the handler's ``latest_checkpoint`` alone, with and without. Prints per-request
medians side by side; asserts no time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.exchange helpers

ap = argparse.ArgumentParser()
ap.add_argument("--requests", type=int, default=400, help="requests per round and mode")
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--postgres-url", default="", help="the serving bureau's database on this server")
ARGS = ap.parse_args()
TMP = Path(tempfile.mkdtemp(prefix="bench-checkpoint-"))
os.environ.update({"SHUANGSUI_HOME": str(TMP / "fj"), "SHUANGSUI_BUREAU_CODE": "350000",
                   "PREFECT_HOME": str(TMP / "prefect"),
                   "SHUANGSUI_ENVIRONMENT": "test"})  # fmt: skip

import pg_admin  # noqa: E402
from sqlmodel import Session  # noqa: E402

from exchange import log  # noqa: E402
from exchange.client import PREFIX, PartnerClient  # noqa: E402
from exchange.keys import load_or_create  # noqa: E402
from exchange.settings import exchange_settings  # noqa: E402
from tests.exchange.bureaus import make_bureau, pulled_by_fujian, served  # noqa: E402
from tests.servers import free_port  # noqa: E402

NAME = f"bench_checkpoint_{os.getpid()}"
SHIPPED = log._signed_by


def _yes(note: str, key: object) -> bool:
    return True


def timed(n: int, fn: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    url = pg_admin.fresh(ARGS.postgres_url, NAME) if ARGS.postgres_url else ""
    port = free_port()
    sh = make_bureau(TMP, "310000", url or None)
    sh.base_url = f"http://127.0.0.1:{port}"
    with Session(sh.engine) as session:  # a log of a thousand entries (their content unread)
        body = {"outcome": "合格"}
        entries = [log.NewEntry(f"note/{i}", "result", body) for i in range(1000)]
        log.append_many(session, origin=sh.origin, entries=entries)
        session.commit()
    fj, partner = pulled_by_fujian(TMP / "x", sh)
    keys_dir = exchange_settings().for_home(sh.home)[1]
    interval = exchange_settings().exchange_checkpoint_interval
    request: dict[str, list[float]] = {"with": [], "without": []}
    handler: dict[str, list[float]] = {"with": [], "without": []}
    try:
        with served(sh, port), PartnerClient(partner, fj.key) as client:
            client.get(f"{PREFIX}/checkpoint")  # the first checkpoint signed, outside the time
            for _ in range(ARGS.rounds):
                for mode, check in (("with", SHIPPED), ("without", _yes)):
                    log._signed_by = check  # type: ignore[assignment]
                    request[mode] += timed(
                        ARGS.requests, lambda: client.get(f"{PREFIX}/checkpoint")
                    )
                    handler[mode] += timed(
                        ARGS.requests,
                        lambda: log.latest_checkpoint(
                            sh.engine, key=load_or_create(keys_dir, sh.code), max_age=interval
                        ),
                    )
    finally:
        log._signed_by = SHIPPED  # type: ignore[assignment]
        sh.engine.dispose()
        fj.engine.dispose()
        if url:
            pg_admin.drop(ARGS.postgres_url, NAME)
    where = "PostgreSQL" if url else "SQLite"
    n = ARGS.requests * ARGS.rounds
    print(f"GET /checkpoint, {n} requests a mode in {ARGS.rounds} rounds taking turns, {where}")
    print("| measured | with the check (ms) | without (ms) | the check's share |")
    print("|---|---:|---:|---:|")
    for what, times in (("signed request, loopback (median)", request),
                        ("`latest_checkpoint` + key load (median)", handler)):  # fmt: skip
        a, b = statistics.median(times["with"]), statistics.median(times["without"])
        print(f"| {what} | {a * 1e3:.3f} | {b * 1e3:.3f} | {(a - b) / a:+.1%} |")


if __name__ == "__main__":
    main()
