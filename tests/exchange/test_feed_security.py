"""The partner feed against hostile callers, over real HTTP on loopback, on both databases:
cross-host replay, out-of-range integers, O(log n) proofs, a broken directory entry, nonce,
label, lifetime and the 401 challenge."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from exchange import httpsig, log, proofs
from exchange.keys import BureauKey, load_or_create
from exchange.log import NewEntry, append_many
from exchange.models import ExchangeEntry, ExchangeNonce
from shuangsui import config
from tests.exchange.bureaus import Bureau, make_bureau, publish, served, write_directory

PROBLEM = "application/problem+json"
MAX = 2**63 - 1


@dataclass
class Feed:
    """Fujian's feed served on loopback; Shanghai is its partner, Zhejiang is not."""

    fj: Bureau
    url: str
    sh: BureauKey
    zj: BureauKey

    def get(self, path: str, key: BureauKey | None = None, *, signed_for: str | None = None,
            headers: dict[str, str] | None = None, **sign: Any) -> httpx.Response:  # fmt: skip
        """GET ``path`` from the feed, signed by ``key`` (Shanghai's) for ``signed_for``
        (default: the feed's own URL)."""
        target = (signed_for or self.url) + path
        signature = httpsig.sign_request(key or self.sh, "GET", target, **sign)
        return httpx.get(self.url + path, headers=signature | (headers or {}), timeout=20)


@pytest.fixture
def feed(db_url: str, tmp_path: Path) -> Iterator[Feed]:
    fj = make_bureau(tmp_path, "350000", db_url)
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = "http://sh.example"
    write_directory(fj.home / "partners.toml", [sh])
    for i in range(3):
        publish(fj, f"91350100MA{i:07d}X", n=i)
    try:
        with served(fj) as url:
            yield Feed(fj, url, sh.key, load_or_create(tmp_path / "zj-keys", "330000"))
    finally:
        fj.engine.dispose()
        sh.engine.dispose()


def _problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    doc: dict[str, Any] = resp.json()
    return doc


def _nonces(feed: Feed) -> int:
    with Session(feed.fj.engine) as s:
        return int(s.exec(select(func.count()).select_from(ExchangeNonce)).one())


# ------------------------------------------------------------------ cross-host replay
def test_a_request_signed_for_another_bureau_is_refused(feed: Feed) -> None:
    path = "/exchange/v1/checkpoint"
    assert feed.get(path).status_code == 200
    # Shanghai signed this for Zhejiang's feed; Zhejiang replays it to us with its Host
    replay = feed.get(path, signed_for="http://c.example", headers={"Host": "c.example"})
    doc = _problem(replay, 401)
    assert "signature rejected" in doc["detail"] and feed.url + path in doc["detail"]
    assert replay.headers["www-authenticate"].startswith("Signature")
    # the same with our own Host header, or with https and another port
    assert feed.get(path, signed_for="http://c.example").status_code == 401
    https = feed.url.replace("http://", "https://")
    assert feed.get(path, signed_for=https).status_code == 401
    # the Host header itself does not matter: a proxy may rewrite it
    assert feed.get(path, headers={"Host": "internal.local:8350"}).status_code == 200


def test_behind_a_proxy_the_configured_public_url_is_checked(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # written as an operator might; compared as partners' clients send it (RFC 3986 normal form)
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PUBLIC_URL", "https://Exchange.FJ.example:443/")
    path = "/exchange/v1/checkpoint"
    assert feed.get(path, signed_for="https://exchange.fj.example").status_code == 200
    assert feed.get(path).status_code == 401  # our loopback URL is no longer the public one
    assert feed.get(path, signed_for="https://exchange.zj.example").status_code == 401


# ------------------------------------------------------------------ integer parameters
@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("/proof/inclusion?index=0&size=9223372036854775808", 422, "query.size"),
        (f"/proof/inclusion?index=0&size={MAX}", 404, "query.size"),
        ("/proof/inclusion?index=18446744073709551616&size=3", 422, "query.index"),
        ("/proof/inclusion?index=3&size=3", 422, "query.index"),
        ("/proof/inclusion?index=-1&size=3", 422, "query.index"),
        ("/proof/consistency?first=1&second=9223372036854775808", 422, "query.second"),
        (f"/proof/consistency?first=1&second={MAX}", 404, "query.second"),
        ("/proof/consistency?first=3&second=2", 422, "query.first"),
        ("/entries?start=9223372036854775808", 422, "query.start"),
        (f"/entries?start={MAX}", 404, "query.start"),
        (f"/entries?start=0&end={MAX}", 404, "query.end"),
        ("/entries?start=2&end=1", 422, "query.start"),
        ("/entries?limit=99999999999999999999", 422, "query.limit"),
    ],
)
def test_integer_parameters_are_bounded(feed: Feed, query: str, status: int, field: str) -> None:
    doc = _problem(feed.get("/exchange/v1" + query), status)
    assert field in [e["field"] for e in doc["errors"]], doc
    assert field.removeprefix("query.") in doc["detail"]


def test_in_range_proofs_still_answer(feed: Feed) -> None:
    assert feed.get("/exchange/v1/proof/inclusion?index=2&size=3").json()["proof"]
    assert len(feed.get("/exchange/v1/proof/consistency?first=1&second=3").json()["proof"]) == 2
    assert feed.get("/exchange/v1/entries?start=3").json()["entries"] == []


# ------------------------------------------------------------------ proofs read O(log n) rows
class ReadCounter:
    """Counts the statements an engine runs and the rows each SELECT produces (re-counted
    with ``SELECT count(*)`` over the same statement and parameters, whatever the caller
    fetched), and keeps each SELECT's query plan: a full scan would read every row."""

    def __init__(self, engine: sa.Engine):
        self.engine, self.statements, self.rows, self.on = engine, 0, 0, False
        self.plans: list[str] = []
        self.explain = "EXPLAIN" if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def start(self) -> None:
        self.on, self.rows, self.statements, self.plans = True, 0, 0, []

    def full_scans(self) -> list[str]:
        """Scans of a whole table that grows with the log (exchange_head holds one row: a
        planner may rightly scan it)."""
        return [
            p
            for p in self.plans
            if ("Seq Scan" in p or re.search(r"\bSCAN exchange_", p))
            and not re.search(r"(Seq Scan on|SCAN) exchange_head\b", p)
        ]

    def close(self) -> None:
        sa.event.remove(self.engine, "after_cursor_execute", self._after)

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not self.on:
            return
        self.statements += 1
        if statement.lstrip().upper().startswith("SELECT"):
            counter = cursor.connection.cursor()
            try:
                counter.execute(f"SELECT count(*) FROM ({statement}) AS counted", parameters)
                self.rows += counter.fetchone()[0]
                counter.execute(f"{self.explain} {statement}", parameters)
                self.plans.append(" | ".join(str(r[-1]) for r in counter.fetchall()))
            finally:
                counter.close()


def _big_log(engine: sa.Engine, n: int) -> None:
    for start in range(0, n, 10_000):
        ids = range(start, min(n, start + 10_000))
        batch = [NewEntry(f"e/{i}", "result", {"i": i}) for i in ids]
        with Session(engine) as s:
            append_many(s, origin="shuangsui.350000", entries=batch)
            s.commit()


def test_a_proof_at_100000_reads_a_logarithmic_number_of_rows(engine: sa.Engine) -> None:
    n = 100_000
    _big_log(engine, n)
    with Session(engine) as s:
        hashes = [bytes.fromhex(h) for h in s.exec(
            select(ExchangeEntry.leaf_hash).order_by(ExchangeEntry.seq)).all()]  # fmt: skip
        size, root = log.head_of(s)
    assert size == n and proofs.root_from_hashes(hashes) == root
    counter = ReadCounter(engine)
    bound = 4 * math.log2(n)
    try:
        for index, tree in [(0, n), (n - 1, n), (54_321, n), (77_777, 99_999), (12, 65_537)]:
            with Session(engine) as s:
                counter.start()
                proof = log.inclusion(s, index, tree)
                counter.on = False
            assert counter.rows < bound and counter.statements <= 4, (index, tree, counter.rows)
            assert not counter.full_scans(), counter.plans
            tree_root = root if tree == n else proofs.root_from_hashes(hashes[:tree])
            assert proofs.verify_inclusion_hash(index, tree, hashes[index], proof, tree_root)
        for first, second in [(1, n), (65_536, n), (99_999, n), (31_337, 77_777), (7, 9)]:
            with Session(engine) as s:
                counter.start()
                proof = log.consistency(s, first, second)
                counter.on = False
            assert counter.rows < bound and counter.statements <= 4, (first, second, counter.rows)
            assert not counter.full_scans(), counter.plans
            assert proof == proofs.consistency_proof(first, hashes[:second])
    finally:
        counter.close()


def test_the_migration_backfills_an_existing_log(db_url: str) -> None:
    from shuangsui import db

    engine = db.make_engine(db_url)
    try:
        _big_log(engine, 1000)
        with Session(engine) as s:
            before = [log.inclusion(s, i, 1000) for i in (0, 511, 999)]
            before.append(log.consistency(s, 300, 1000))
        db.downgrade(db_url, "0005")  # the log as it was before subtree hashes were stored
        db.migrate(db_url)
        with Session(engine) as s:
            after = [log.inclusion(s, i, 1000) for i in (0, 511, 999)]
            after.append(log.consistency(s, 300, 1000))
        assert after == before
    finally:
        engine.dispose()


# ------------------------------------------------------------------ the partner directory
def test_a_bad_directory_entry_disables_only_that_partner(
    feed: Feed, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = feed.fj.home / "partners.toml"
    text = directory.read_text(encoding="utf-8")
    zj_entry = ('[[partner]]\ncode = "330000"\nname = "浙江"\ndivision = "330000"\n'
                'base_url = "http://zj.example"\nkeys = []\n')  # fmt: skip
    directory.write_text(text + zj_entry, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="exchange.directory"):
        assert feed.get("/exchange/v1/checkpoint").status_code == 200  # Shanghai still served
        refused = feed.get("/exchange/v1/checkpoint", feed.zj)
    doc = _problem(refused, 401)
    assert str(feed.fj.home) not in refused.text and "partners.toml" not in refused.text, doc
    warned = [r.getMessage() for r in caplog.records if "330000" in r.getMessage()]
    assert warned and "keys" in warned[0], caplog.text
    # the coordinator sees which partner is disabled and why
    monkeypatch.setenv("SHUANGSUI_HOME", str(feed.fj.home))
    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", str(feed.fj.settings.database_url))
    config.get_settings.cache_clear()
    from exchange.cli import app

    out = CliRunner().invoke(app, ["status"])
    assert out.exit_code == 0, out.output
    assert "330000 DISABLED" in out.output and "keys" in out.output, out.output
    # a file that is not TOML at all: no partner is served, and no path leaks
    directory.write_text(text + "[[partner\n", encoding="utf-8")
    broken = feed.get("/exchange/v1/checkpoint")
    _problem(broken, 503)
    assert str(feed.fj.home) not in broken.text and "partners.toml" not in broken.text


# ------------------------------------------------------------------ signature parameters
def _labelled(key: BureauKey, url: str, label: str) -> dict[str, str]:
    kid = key.public.http_key_id
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={kid: key.private}),
    )
    msg = httpsig._Message("GET", url, {})
    now = dt.datetime.now(dt.UTC)
    signer.sign(msg, key_id=kid, created=now, expires=now + dt.timedelta(seconds=60),
                nonce="n" * 24, label=label, tag=httpsig.TAG,
                covered_component_ids=httpsig.COVERED[:2], body=b"")  # fmt: skip
    return dict(msg.headers)


def test_nonce_label_and_lifetime_are_enforced(feed: Feed) -> None:
    path = "/exchange/v1/checkpoint"
    for nonce, why in [("x" * 60_000, "nonce"), ("x" * 129, "nonce"), ("x" * 15, "nonce"),
                       ("x" * 20 + "!", "nonce"), ("x" * 20 + " y", "nonce")]:  # fmt: skip
        resp = feed.get(path, nonce=nonce)
        assert resp.status_code in (400, 401, 431) and resp.status_code != 200, len(nonce)
        if resp.status_code == 401:
            assert why in _problem(resp, 401)["detail"]
    assert _nonces(feed) == 0  # none of them was stored
    assert feed.get(path, nonce="x" * 128).status_code == 200
    assert feed.get(path, nonce="Ab0_-" * 4).status_code == 200
    doc = _problem(feed.get(path, lifetime=0), 401)  # expires == created
    assert "expires at or before" in doc["detail"]
    doc = _problem(feed.get(path, lifetime=301), 401)  # longer than the 300 s maximum age
    assert "lifetime" in doc["detail"]
    other = httpx.get(feed.url + path, headers=_labelled(feed.sh, feed.url + path, "other"))
    _problem(other, 401)
    ok = httpx.get(feed.url + path, headers=_labelled(feed.sh, feed.url + path, "partner"))
    assert ok.status_code == 200


def test_401_challenges(feed: Feed) -> None:
    unsigned = httpx.get(feed.url + "/exchange/v1/checkpoint")
    _problem(unsigned, 401)
    assert unsigned.headers["www-authenticate"] == 'Signature realm="shuangsui-exchange"'
    assert unsigned.headers["accept-signature"].startswith('partner=("@method" "@target-uri"')
    coordinator = httpx.get(feed.url + "/rounds")  # the inspector/coordinator API: Bearer
    _problem(coordinator, 401)
    assert coordinator.headers["www-authenticate"] == "Bearer"
