"""A partner whose signed log holds what a careless or hostile writer puts there, synced by
Fujian (the configured bureau, on SQLite and PostgreSQL) from real ``shuangsui serve``
processes of Shanghai and Jiangsu (their own databases SQLite: a log may hold what our
PostgreSQL cannot).

- An entry id of 5,000 characters: on PostgreSQL its insert failed (``index row size 5024
  exceeds btree version 4 maximum 2704 for index "ix_partner_entry_entry_id"``), the sync
  recorded as our own fault (``error``, 本局系统故障), at the same entry every time: nothing
  of that partner was applied again; SQLite kept it. Now an id is at most 512 characters
  (one of 512 characters of 4 bytes each is held on both), and a longer one is refused as
  any malformed entry is, naming the partner, the entry and the field.
- An assistance request to us whose ``request_id`` is 5,000 characters: the same on
  PostgreSQL (``assistance_case_pkey``); SQLite opened a case under it. Now a request id of
  more than 128 characters opens no case, as one holding a NUL, the entry kept: our answer's
  id holds it, and must itself be within the 512 characters, and so does the lead it becomes
  (``external_ref``, 200 characters).
- A ``round`` entry whose ``selection`` is not a list: ``partners view`` of any enterprise
  failed with a traceback (``argument of type 'int' is not iterable``), for good.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from exchange import log
from exchange.directory import load_directory
from exchange.keys import load_or_create
from exchange.models import AssistanceCase, PartnerEntry, PartnerState
from exchange.sync import sync_partner
from leads.models import Lead
from tests.exchange import test_sync
from tests.exchange.bureaus import Bureau, Servers, make_bureau, publish, write_directory
from tests.exchange.test_entry_kinds_said import A, B, C
from tests.servers import free_port

pair = test_sync.pair  # Fujian here, Shanghai in process (for a page only a proxy could alter)

RESULT = {"check_item": "CCC-01", "inspected_on": "2026-11-15", "outcome": "合格",
          "round_key": "r-1", "summary": ""}  # fmt: skip
REQUEST = {"to": "350000", "credit_code": A, "check_item": "CCC-01",
           "reason": "协查", "window": {"start": "2026-12-01", "end": "2026-12-31"}}  # fmt: skip


def _wide(n: int) -> str:
    """``n`` random characters of 4 bytes each in UTF-8 (CJK Extension B): what an index
    holds least of, and nothing a compression shortens."""
    return "".join(chr(random.randrange(0x20000, 0x2A6DF)) for _ in range(n))


def _append(bureau: Bureau, entry_id: str, kind: str, body: dict[str, Any]) -> None:
    with Session(bureau.engine) as s:
        log.append(s, origin=bureau.origin, entry_id=entry_id, kind=kind, body=body)
        s.commit()


class Pair:
    def __init__(self, engine: sa.Engine, sh: Bureau, js: Bureau) -> None:
        self.engine, self.sh, self.js = engine, sh, js

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "shuangsui", *args], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        return proc

    def state(self, code: str) -> PartnerState:
        with Session(self.engine) as s:
            state = s.get(PartnerState, code)
        assert state is not None
        return state

    def held(self, code: str) -> list[str]:
        with Session(self.engine) as s:
            q = select(PartnerEntry.entry_id).where(PartnerEntry.partner_code == code)
            return list(s.exec(q.order_by(col(PartnerEntry.seq))).all())


@pytest.fixture
def partners(engine: sa.Engine, tmp_path: Path) -> Iterator[Pair]:
    """Shanghai and Jiangsu, each a ``shuangsui serve`` on SQLite, in Fujian's directory."""
    sh, js = make_bureau(tmp_path, "310000"), make_bureau(tmp_path, "320000")
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url = load_or_create(), "http://127.0.0.1:9"
    servers = Servers(tmp_path)
    try:
        for b in (sh, js):
            port = free_port()
            b.base_url = f"http://127.0.0.1:{port}"
            write_directory(b.home / "partners.toml", [fj])
            servers.start(b.code, os.environ | {
                "SHUANGSUI_HOME": str(b.home), "SHUANGSUI_BUREAU_CODE": b.code,
                "SHUANGSUI_DATABASE_URL": str(b.settings.database_url),
                "SHUANGSUI_EXCHANGE_PUBLIC_URL": b.base_url, "SHUANGSUI_ENVIRONMENT": "test",
            }, port)  # fmt: skip
        write_directory(tmp_path / "home" / "partners.toml", [sh, js])
        yield Pair(engine, sh, js)
    finally:
        servers.stop_all()
        for b in (sh, js, fj):
            b.engine.dispose()


@pytest.mark.slow
def test_an_id_no_index_holds_is_refused_naming_partner_entry_and_field(partners: Pair) -> None:
    t = partners
    _append(t.sh, "result/" + secrets.token_hex(2500), "result", RESULT | {"credit_code": A})
    publish(t.sh, B, n=1)
    at_most = "result/" + _wide(505)  # 512 characters, 2,035 bytes: held on both databases
    _append(t.js, at_most, "result", RESULT | {"credit_code": C})

    out = t.run("partners", "sync", code=1).stdout.splitlines()
    said = "partner 310000: entry 0: id: 5007 characters, at most 512. Refused, and for good: "
    assert out[0].startswith(f"310000 REFUSED: 0 -> 0 (0 new): {said}"), out
    assert out[1:] == ["320000 ok: 0 -> 1 (1 new)"], out
    sh = t.state("310000")
    assert (sh.status, sh.size) == ("refused", 0) and (sh.last_error or "").startswith(said)
    assert t.held("310000") == [] and t.held("320000") == [at_most]
    status = t.run("partners", "status").stdout
    assert f"why: {said}" in status, status


@pytest.mark.slow
def test_an_assistance_request_id_no_index_holds_opens_no_case(partners: Pair) -> None:
    t = partners
    _append(t.sh, "assistance-request/long", "assistance-request",
            {"request_id": secrets.token_hex(2500)} | REQUEST)  # fmt: skip
    # our answer's id (assistance-answer/310000/<request_id>) must fit an id's 512 characters,
    # and the lead's reference (assistance:310000/<request_id>) its 200
    over, at_most = "r" * 129, _wide(128)
    for n, request_id in enumerate((over, at_most)):
        _append(t.sh, f"assistance-request/{n}", "assistance-request",
                {"request_id": request_id} | REQUEST)  # fmt: skip
    proc = t.run("partners", "sync", "310000")
    assert proc.stdout == "310000 ok: 0 -> 3 (3 new)\n", proc.stderr
    for seq in (0, 1):
        assert f"assistance request of entry {seq} from 310000 opens no case" in proc.stderr
    assert "entry 2 from" not in proc.stderr
    assert t.held("310000") == ["assistance-request/long", "assistance-request/0",
                                "assistance-request/1"]  # fmt: skip
    with Session(t.engine) as s:
        cases = s.exec(select(AssistanceCase.requester, AssistanceCase.request_id)).all()
    assert cases == [("310000", at_most)]
    with Session(t.engine) as s:
        leads = s.exec(select(Lead.external_ref)).all()
    assert leads == [f"assistance:310000/{at_most}"]
    assert "is not a lead" not in proc.stderr


@pytest.mark.slow
def test_a_round_whose_selection_is_not_a_list_is_shown_selecting_nothing(
    partners: Pair,
) -> None:
    t = partners
    _append(t.sh, "round/odd-1", "round", {"round_key": "odd-1", "check_item": "CCC-01",
                                           "selection": 5})  # fmt: skip
    _append(t.sh, "round/odd-2", "round", {"selection": A + B})  # text, holding both codes
    _append(t.sh, "round/r-1", "round", {"round_key": "r-1", "check_item": "CCC-01",
                                         "selection": [A]})  # fmt: skip
    t.run("partners", "sync", "310000")
    view = json.loads(t.run("partners", "view", A).stdout)
    assert [(p["entry"], p["round_key"]) for p in view["partners"]] == [("round/r-1", "r-1")]
    assert json.loads(t.run("partners", "view", B).stdout)["partners"] == []


class _Pages(httpx.BaseTransport):
    """Shanghai's own answers (its app, in process), each page's first entry given a
    ``seq`` of 4,000 digits, as only a proxy or a hostile server could."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        body, headers = resp.read(), dict(resp.headers)
        headers.pop("content-length", None)
        if request.url.path.endswith("/entries"):
            doc = json.loads(body)
            doc["entries"][0]["seq"] = 10**3999
            body = json.dumps(doc).encode()
        return httpx.Response(resp.status_code, headers=headers, content=body)


def test_a_seq_of_4000_digits_is_named_cut(engine: sa.Engine, pair: Any) -> None:
    """The reason kept, printed and shown quoted the seq whole (4,000 digits)."""
    sh, transport = pair
    publish(sh, A, n=0)
    out = sync_partner(engine, load_directory()["310000"], transport=_Pages(transport))
    said = "partner 310000: gap: expected entry 0, got 1" + "0" * 39 + "…"
    assert (out.status, out.error) == ("failed", said)
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(PartnerEntry)).one() == 0
