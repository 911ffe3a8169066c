"""A partner that signs, with its own key, checkpoints no shuangsui writes, over real HTTP on
loopback: Shanghai's real feed behind the hostile proxy of ``test_hostile_pages``, its
checkpoint rewritten and signed again by Shanghai's key, synced by Fujian (the configured
bureau, on SQLite and PostgreSQL), 3 entries held and 3 more published.

- A tree size our tables cannot hold (2^31 and more: ``integer`` on PostgreSQL; 2^63 and
  more on SQLite): the sync stored it (the checkpoint seen, our cosignature) and failed there
  as this bureau's own fault (``error``, 本局系统故障: ``NumericValueOutOfRange`` on
  PostgreSQL, ``OverflowError`` on SQLite), at every sync until the partner signed another.
- An equivocation proof whose ``size`` is ``true`` or whose ``v`` is not 1, served by a
  partner that signed two checkpoints of size 1: taken as a proof (Python's ``1 == True``:
  the sync said ``signed two checkpoints of size True``; ``v`` was not read). Now refused as
  a malformed proof, and logged; the sync goes on.
- A checkpoint whose text holds a control character (a NUL, an escape) in an extension line:
  the signed-note format allows none but the line break (c2sp.org/signed-note); PostgreSQL's
  text cannot hold a NUL, and the sync failed as our own fault there, while SQLite kept the
  note with its escape, to be shown on an operator's terminal.

Each is now a refusal of the partner's checkpoint, naming the partner and what is wrong:
nothing applied, nothing of it stored, the cursor unmoved; the next sync, the partner
behaving again, resumes from the cursor.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from draw.canonical import canonical_json
from exchange import equivocation
from exchange.directory import load_directory
from exchange.entries import iso
from exchange.models import EquivocationProof, ExchangeCosignature, SeenCheckpoint
from exchange.notes import format_checkpoint, sign_note
from exchange.sync import sync_partner
from tests.exchange.bureaus import Bureau, publish
from tests.exchange.test_hostile_pages import (
    CODES,
    FEED,
    HostileProxy,
    _refused,
    _send,
    hostile_feed,
)


class Proxy(HostileProxy):
    """The hostile proxy; in mode ``rewrite``, ``rewrite`` changes the checkpoint's text (its
    lines, the signature block left off), which is then signed again by Shanghai's own key."""

    partner: Bureau
    rewrite: Callable[[list[str]], list[str]] | None = None
    proofs: list[object] = []  # what /equivocations answers in mode ``gossip``

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        if self.mode == "gossip" and h.path.startswith(FEED + "equivocations"):
            body = json.dumps({"proofs": self.proofs}).encode()
            return _send(h, 200, {"Content-Type": "application/json"}, body)
        checkpoint = h.path.startswith(FEED + "checkpoint")
        if self.mode != "rewrite" or self.rewrite is None or not checkpoint:
            return super().handle(h)
        headers = {k: v for k, v in h.headers.items() if k.lower() != "host"}
        resp = httpx.get(self.upstream + h.path, headers=headers, timeout=10)
        lines = resp.text.split("\n\n", 1)[0].split("\n")
        text = "\n".join(self.rewrite(lines)) + "\n"
        body = sign_note(text, self.partner.origin, self.partner.key.private).encode()
        _send(h, resp.status_code, {"Content-Type": resp.headers["content-type"]}, body)


@pytest.fixture
def feed(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """The feed, synced once while it behaves (3 entries held), 3 more published."""
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PAGE_SIZE", "2")
    monkeypatch.setattr("tests.exchange.test_hostile_pages.HostileProxy", Proxy)
    with hostile_feed(tmp_path) as (sh, proxy, _bystander):
        assert isinstance(proxy, Proxy)
        proxy.partner = sh
        out = sync_partner(engine, load_directory()["310000"], timeout=10)
        assert (out.status, out.after) == ("ok", 3), out
        for i in range(3, 6):
            publish(sh, CODES[i], n=i)
        yield proxy


def _kept(engine: sa.Engine) -> tuple[int, int]:
    """Checkpoints of Shanghai seen, and cosignatures of them held."""
    with Session(engine) as s:
        seen = s.exec(select(func.count()).select_from(SeenCheckpoint)).one()
        cosigned = s.exec(select(func.count()).select_from(ExchangeCosignature)).one()
    return seen, cosigned


@pytest.fixture
def first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """The feed (3 entries), never synced: a first sync proves nothing of a size (m = 0)."""
    monkeypatch.setattr("tests.exchange.test_hostile_pages.HostileProxy", Proxy)
    with hostile_feed(tmp_path) as (sh, proxy, _bystander):
        assert isinstance(proxy, Proxy)
        proxy.partner = sh
        yield proxy


@pytest.mark.parametrize("size", [2**31, 2**63, 10**30])
def test_a_tree_size_our_tables_cannot_hold_is_refused(
    engine: sa.Engine, first: Proxy, size: int
) -> None:
    first.mode, first.rewrite = "rewrite", lambda lines: [lines[0], str(size), *lines[2:]]
    out = sync_partner(engine, load_directory()["310000"], timeout=10)
    assert (out.status, out.applied, out.after) == ("failed", 0, 0), out
    assert out.error == (
        f"partner 310000: checkpoint rejected: tree size {size} is more than 2147483647, the "
        "most a shuangsui log holds"
    ), out.error
    assert _kept(engine) == (0, 0)  # neither seen nor cosigned
    first.mode = ""
    out = sync_partner(engine, load_directory()["310000"], timeout=10)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 0, 3, 3), out
    assert _kept(engine) == (1, 1)


@pytest.mark.parametrize(
    ("extension", "shown"),
    [("note \x00 NUL", "U+0000"), ("note \x1b[31m red", "U+001B"), ("tab \t", "U+0009")],
)
def test_a_checkpoint_holding_a_control_character_is_refused(
    engine: sa.Engine, feed: Proxy, extension: str, shown: str
) -> None:
    feed.mode, feed.rewrite = "rewrite", lambda lines: [*lines, extension]
    error = _refused(engine, feed)
    assert error == (
        f"partner 310000: checkpoint rejected: malformed note: it holds the control character "
        f"{shown} (a signed note holds none but the line break: c2sp.org/signed-note)"
    ), error


def _proof(partner: Bureau, **statement: object) -> dict[str, object]:
    """A proof, signed by ``partner`` as its finder, that ``partner`` signed two checkpoints of
    size 1 with different roots; ``statement`` changes its fields."""
    now = dt.datetime.now(dt.UTC)
    notes = sorted(format_checkpoint(partner.origin, 1, hashlib.sha256(x).digest(), now,
                                     partner.key.private) for x in (b"a", b"b"))  # fmt: skip
    st = {"v": 1, "type": "equivocation", "origin": partner.origin,
          "origin_key": partner.key.public.text, "size": 1, "checkpoints": notes,
          "sources": ["here", "there"], "found_by": partner.origin,
          "finder_key": partner.key.public.text, "found_at": iso(now)} | statement  # fmt: skip
    sig = partner.key.private.sign(equivocation.DOMAIN + canonical_json(st))
    return {"statement": st, "signature": base64.b64encode(sig).decode()}


@pytest.mark.parametrize(("field", "value"), [("size", True), ("v", 2), ("v", True)])
def test_an_equivocation_proof_of_another_type_is_refused_and_the_sync_goes_on(
    engine: sa.Engine, feed: Proxy, caplog: pytest.LogCaptureFixture, field: str, value: object
) -> None:
    feed.mode, feed.proofs = "gossip", [_proof(feed.partner, **{field: value})]
    with caplog.at_level(logging.WARNING, logger="exchange.equivocation"):
        out = sync_partner(engine, load_directory()["310000"], timeout=10)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 3, 6, 3), out
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(EquivocationProof)).one() == 0
    assert f"equivocation proof from shuangsui.310000 refused: statement.{field}: " in caplog.text


def test_a_well_formed_equivocation_proof_is_still_taken(engine: sa.Engine, feed: Proxy) -> None:
    feed.mode, feed.proofs = "gossip", [_proof(feed.partner)]
    out = sync_partner(engine, load_directory()["310000"], timeout=10)
    assert out.status == "equivocated", out
    assert (out.error or "").startswith("partner 310000 EQUIVOCATED: shuangsui.310000 signed two "
                                        "checkpoints of size 1"), out  # fmt: skip
