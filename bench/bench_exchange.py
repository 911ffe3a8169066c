"""Pull and verify N entries from a partner on loopback, beside a plain download of the pages.

    .venv/bin/python bench/bench_exchange.py [N] [PAGE_SIZE]    (default 100000 1000)

The partner is a real API app (uvicorn, 127.0.0.1, SQLite) whose log holds N result entries;
the puller is another bureau with its own SQLite database. "sync" = signed requests, checkpoint
signature, every entry parsed and checked canonical, leaf-hashed, root recomputed and compared,
all applied and the cursor stored in one transaction. "plain" = the same signed page requests,
bodies read, nothing checked or stored. Prints figures; asserts no wall time.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
PAGE = sys.argv[2] if len(sys.argv) > 2 else "1000"
TMP = Path(tempfile.mkdtemp(prefix="bench-exchange-"))
os.environ.update({"SHUANGSUI_HOME": str(TMP / "fj"), "SHUANGSUI_BUREAU_CODE": "350000",
                   "SHUANGSUI_DATABASE_URL": f"sqlite:///{TMP / 'fj.db'}",
                   "SHUANGSUI_EXCHANGE_PAGE_SIZE": PAGE, "PREFECT_HOME": str(TMP / "prefect"),
                   "SHUANGSUI_ENVIRONMENT": "test"})  # fmt: skip

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.exchange helpers
import uvicorn  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from draw.merkle import leaf_hash  # noqa: E402
from exchange import proofs  # noqa: E402
from exchange.client import PREFIX, PartnerClient  # noqa: E402
from exchange.directory import load_directory  # noqa: E402
from exchange.entries import make_entry  # noqa: E402
from exchange.keys import load_or_create  # noqa: E402
from exchange.models import ExchangeEntry, ExchangeHead  # noqa: E402
from exchange.sync import sync_partner  # noqa: E402
from shuangsui import db  # noqa: E402
from shuangsui.config import Settings  # noqa: E402
from tests.exchange.bureaus import make_bureau, write_directory  # noqa: E402


def fill(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows, frontier = [], []
    for i in range(n):
        body = {"credit_code": f"91350100MA{i:07d}X", "check_item": "CCC-01",
                "inspected_on": "2026-11-20", "outcome": "合格", "round_key": "r",
                "summary": ""}  # fmt: skip
        data = make_entry(origin="shuangsui.310000", seq=i, entry_id=f"result/{i}",
                          kind="result", at=at, body=body)  # fmt: skip
        h = leaf_hash(data)
        proofs.frontier_append(frontier, i, h)
        rows.append({"seq": i, "entry_id": f"result/{i}", "kind": "result", "supersedes": None,
                     "body": data.decode(), "leaf_hash": h.hex(), "created_at": at})  # fmt: skip
    with engine.begin() as conn:
        for k in range(0, n, 10_000):
            conn.execute(insert(ExchangeEntry), rows[k : k + 10_000])
        conn.execute(insert(ExchangeHead), [{"id": 1, "size": n,
                                            "frontier": [f.hex() for f in frontier]}])  # fmt: skip


def main() -> None:
    from api.app import create_app

    sh = make_bureau(TMP, "310000")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sh.base_url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    fill(sh.engine, N)
    print(f"partner log filled with {N} entries in {time.perf_counter() - t0:.1f} s")
    db.migrate(os.environ["SHUANGSUI_DATABASE_URL"])
    fj = make_bureau(TMP / "x", "350000")
    fj.key = load_or_create()
    fj.base_url = "http://127.0.0.1:1"
    write_directory(TMP / "fj" / "partners.toml", [sh])
    write_directory(sh.home / "partners.toml", [fj])
    app = create_app(engine=sh.engine, settings=Settings(home=sh.home, bureau_code="310000",
                     database_url=sh.settings.database_url))  # fmt: skip
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    partner = load_directory()["310000"]

    t0 = time.perf_counter()
    with PartnerClient(partner, fj.key) as client:
        n_bytes = n_pages = 0
        url: str | None = f"{sh.base_url}{PREFIX}/entries?start=0&end={N}"
        while url:
            resp = client.get(url)
            n_bytes += len(resp.content)
            n_pages += 1
            nxt = resp.links.get("next", {}).get("url")
            url = str(resp.url.join(nxt)) if nxt else None
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = sync_partner(db.get_engine(), partner, key=fj.key, timeout=60)
    full = time.perf_counter() - t0
    assert out.status == "ok" and out.after == N, out
    print(f"plain download : {N} entries, {n_pages} pages, {n_bytes / 1e6:.1f} MB in {plain:.2f} s "
          f"({N / plain:,.0f} entries/s)")  # fmt: skip
    print(f"sync (verified): {N} entries verified + applied in {full:.2f} s "
          f"({N / full:,.0f} entries/s); {full / plain:.1f}x the plain download")  # fmt: skip
    server.should_exit = True


if __name__ == "__main__":
    main()
