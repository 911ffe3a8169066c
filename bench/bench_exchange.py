"""Pull and verify N entries from a partner on loopback, beside the floor doing the same work.

    .venv/bin/python bench/bench_exchange.py [--entries 20000] [--page 1000]
        [--postgres-url postgresql+psycopg://...] [--profile]

The partner is a real API app (uvicorn, 127.0.0.1) whose log is filled with N result entries
by ``exchange.log.append_many`` (timed: the publishing hook's bulk path); the puller is another
bureau with its own database. Both databases are SQLite files, or, with ``--postgres-url``,
two fresh PostgreSQL databases on that server (dropped at the end). In one run:

* plain download: the same signed page requests as the sync, bodies read, nothing checked;
* floor: those downloaded pages verified with the standard library only (json, hashlib; the
  checkpoint's one Ed25519 signature with ``cryptography``): every entry parsed and checked
  canonical, origin and sequence, leaf-hashed, the root rebuilt and compared; then the same
  ``partner_entry`` rows written by one DBAPI ``executemany`` and a commit;
* ``sync_partner``: signed requests, checkpoint signature, every entry parsed and checked,
  leaf hashes, root, apply + cursor in one transaction.

The aim (issue 17): sync <= 1.5 x (plain download + floor). Prints figures; asserts no time.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.exchange helpers

ap = argparse.ArgumentParser()
ap.add_argument("--entries", type=int, default=20_000)
ap.add_argument("--page", type=int, default=1000)
ap.add_argument("--postgres-url", default="", help="both bureaus' databases on this server")
ap.add_argument("--profile", action="store_true", help="cProfile the sync, print the top")
ap.add_argument("--sort", default="tottime", help="cProfile order (with --profile)")
ARGS = ap.parse_args()
TMP = Path(tempfile.mkdtemp(prefix="bench-exchange-"))
os.environ.update({"SHUANGSUI_HOME": str(TMP / "fj"), "SHUANGSUI_BUREAU_CODE": "350000",
                   "SHUANGSUI_EXCHANGE_PAGE_SIZE": str(ARGS.page),
                   "PREFECT_HOME": str(TMP / "prefect"),
                   "SHUANGSUI_ENVIRONMENT": "test"})  # fmt: skip

import pg_admin  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from peak_memory import describe, step_peak  # noqa: E402
from sqlmodel import Session  # noqa: E402

from exchange import log  # noqa: E402
from exchange.client import PREFIX, PartnerClient  # noqa: E402
from exchange.sync import sync_partner  # noqa: E402
from shuangsui import db  # noqa: E402
from tests.exchange.bureaus import make_bureau, pulled_by_fujian, served  # noqa: E402
from tests.servers import free_port  # noqa: E402

PID = os.getpid()


def database(tag: str) -> str:
    """A fresh database for one bureau: a SQLite file, or a new PostgreSQL database."""
    if not ARGS.postgres_url:
        return f"sqlite:///{TMP / f'{tag}.db'}"
    return pg_admin.fresh(ARGS.postgres_url, f"bench_exchange_{PID}_{tag}")


def drop_databases() -> None:
    if ARGS.postgres_url:
        pg_admin.drop(ARGS.postgres_url, *(f"bench_exchange_{PID}_{tag}" for tag in ("sh", "fj")))


def fill(engine: sa.Engine, origin: str, n: int) -> float:
    """N result entries appended by ``log.append_many`` in one transaction; its seconds."""
    entries = [
        log.NewEntry(f"result/{i}", "result", {
            "credit_code": f"91350100MA{i:07d}X", "check_item": "CCC-01",
            "inspected_on": "2026-11-20", "outcome": "合格", "round_key": "r", "summary": ""})
        for i in range(n)
    ]  # fmt: skip
    t0 = time.perf_counter()
    with Session(engine) as session:
        log.append_many(session, origin=origin, entries=entries)
        session.commit()
    return time.perf_counter() - t0


def download(client: PartnerClient, base_url: str, n: int) -> tuple[str, list[bytes]]:
    """The checkpoint's text and every page's body, by the same signed requests as the sync."""
    checkpoint = client.get(f"{PREFIX}/checkpoint").text
    pages = []
    url: str | None = f"{base_url}{PREFIX}/entries?start=0&end={n}"
    while url:
        resp = client.get(url)
        pages.append(resp.content)
        nxt = resp.links.get("next", {}).get("url")
        url = str(resp.url.join(nxt)) if nxt else None
    return checkpoint, pages


def floor_verify(checkpoint: str, pages: list[bytes], public: bytes, origin: str) -> list[tuple]:
    """The stdlib floor of the verification: the checkpoint signature (one Ed25519 check),
    each entry canonical with the right origin and seq, leaf hashes, the root. Returns the
    rows to store (partner_code, seq, entry_id, kind, supersedes, credit_code, check_item,
    event_date, body, leaf_hash, applied_at)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text, _, sig_line = checkpoint.rstrip("\n").rpartition("\n\n")
    blob = base64.b64decode(sig_line.split(" ")[-1])
    Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], (text + "\n").encode())
    lines = text.split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    sha = hashlib.sha256
    now = dt.datetime.now(dt.UTC)
    rows: list[tuple] = []
    frontier: list[bytes] = []
    for page in pages:
        for item in json.loads(page)["entries"]:
            seq, data = item["seq"], item["entry"].encode()
            doc = json.loads(data)
            canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            if canonical.encode() != data or doc["origin"] != origin or doc["seq"] != seq:
                raise ValueError(f"entry {seq} refused")
            h = sha(b"\x00" + data).digest()
            s = seq
            while s & 1:  # RFC 6962 compact range, one node per trailing one bit
                h = sha(b"\x01" + frontier.pop() + h).digest()
                s >>= 1
            frontier.append(h)
            body = doc["body"]
            rows.append(("999999", seq, doc["id"], doc["kind"], doc.get("supersedes"),
                         body.get("credit_code"), body.get("check_item"),
                         dt.date.fromisoformat(body["inspected_on"]), item["entry"],
                         sha(b"\x00" + data).hexdigest(), now))  # fmt: skip
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = sha(b"\x01" + h + r).digest()
    if len(rows) != size or r != root:
        raise ValueError("entries do not hash to the signed root")
    return rows


def floor_insert(engine: sa.Engine, rows: list[tuple]) -> float:
    """The same rows into ``partner_entry`` by one DBAPI executemany and a commit; removed
    again afterwards (outside the time)."""
    columns = ("partner_code, seq, entry_id, kind, supersedes, credit_code, check_item, "
               "event_date, body, leaf_hash, applied_at")  # fmt: skip
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO partner_entry ({columns}) VALUES ({', '.join([mark] * 11)})"
    if engine.dialect.name == "sqlite":  # as SQLAlchemy stores them there: ISO text
        rows = [(*r[:7], r[7].isoformat(), r[8], r[9], r[10].isoformat(" ")) for r in rows]
    raw = engine.raw_connection()
    try:
        t0 = time.perf_counter()
        cur = raw.cursor()
        cur.executemany(sql, rows)
        raw.commit()
        took = time.perf_counter() - t0
        cur.execute("DELETE FROM partner_entry WHERE partner_code = '999999'")
        raw.commit()
        cur.close()
    finally:
        raw.close()
    return took


def profiled(fn):  # type: ignore[no-untyped-def]
    if not ARGS.profile:
        return fn()
    import cProfile
    import pstats

    prof = cProfile.Profile()
    try:
        return prof.runcall(fn)
    finally:
        pstats.Stats(prof).sort_stats(ARGS.sort).print_stats(40)


def main() -> None:
    n = ARGS.entries
    port = free_port()
    sh = make_bureau(TMP, "310000", database("sh"))
    sh.base_url = f"http://127.0.0.1:{port}"
    appended = fill(sh.engine, sh.origin, n)
    fj_url = database("fj")
    os.environ["SHUANGSUI_DATABASE_URL"] = fj_url
    fj, partner = pulled_by_fujian(TMP / "x", sh, fj_url)
    engine = db.get_engine()
    try:
        with served(sh, port):
            t0 = time.perf_counter()
            with PartnerClient(partner, fj.key) as client:
                checkpoint, pages = download(client, sh.base_url, n)
            plain = time.perf_counter() - t0
            t0 = time.perf_counter()
            rows = floor_verify(checkpoint, pages, sh.key.public.public, sh.origin)
            verify = time.perf_counter() - t0
            with step_peak() as memory:  # (the partner's server, a thread here, serves meanwhile)
                t0 = time.perf_counter()
                out = profiled(lambda: sync_partner(engine, partner, key=fj.key, timeout=60))
                full = time.perf_counter() - t0
            assert out.status == "ok" and out.after == n, out
        insert = floor_insert(engine, rows)
    finally:
        engine.dispose()
        sh.engine.dispose()
        fj.engine.dispose()
        drop_databases()
    floor = plain + verify + insert
    where = "PostgreSQL" if ARGS.postgres_url else "SQLite"
    mb = sum(map(len, pages)) / 1e6
    print(f"{n:,} entries, {len(pages)} pages of {ARGS.page}, {mb:.1f} MB, {where}")
    print("| step | seconds | entries/s | vs |")
    print("|---|---:|---:|---:|")
    print(f"| partner's `log.append_many` ({n:,} entries, one transaction) | {appended:.2f} | "
          f"{n / appended:,.0f} | |")  # fmt: skip
    print(f"| plain download (signed pages, nothing checked) | {plain:.2f} | {n / plain:,.0f} | |")
    print(f"| floor: stdlib verification of those pages | {verify:.2f} | {n / verify:,.0f} | |")
    print(f"| floor: DBAPI executemany of the rows + commit | {insert:.2f} | {n / insert:,.0f} | |")
    print(f"| **plain download + floor** | {floor:.2f} | {n / floor:,.0f} | 1.00x |")
    print(f"| **`sync_partner`** (verify + apply + cursor) | {full:.2f} | {n / full:,.0f} | "
          f"**{full / floor:.2f}x** (aim <= 1.5x) |")  # fmt: skip
    print("memory of the sync (the serving thread's included):", describe(memory))


if __name__ == "__main__":
    main()
