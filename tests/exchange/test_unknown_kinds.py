"""A partner's log holding an entry of a kind this shuangsui does not know (one a newer
shuangsui writes: a joint withdrawal, say). It failed the whole sync of that partner
(``entry N: unknown kind ... or no body``), so a bureau that upgraded stopped every partner
still on the older version from receiving anything of it, results included.

Now such an entry, in a well-formed version 1 envelope, is kept as the partner's leaf and not
applied, and said; a kind that is not a short token, or an envelope with another field, is
still refused naming the entry and the field. Shanghai serves its log from a real
``shuangsui serve`` process; Fujian pulls it with ``shuangsui partners sync`` and reads it with
``partners status``, ``partners view`` and its workspace's partners page (its own real
``shuangsui serve``), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from draw.canonical import canonical_json
from exchange import entries, log
from exchange.client import PartnerClient
from exchange.directory import load_directory
from exchange.entries import make_entry, parse_entry
from exchange.keys import load_or_create
from exchange.models import AssistanceCase, ExchangeEntry, PartnerEntry, PartnerState
from exchange.proofs import verify_inclusion_hash
from exchange.recognition import partner_inspections
from exchange.sync import sync_partner
from tests.exchange import test_sync
from tests.exchange.bureaus import (
    Bureau,
    Servers,
    heard_from_fujian,
    make_bureau,
    publish,
    write_directory,
)
from tests.servers import free_port
from tests.workspace.helpers import sign_in

pair = test_sync.pair  # Fujian here, Shanghai in process (the fixture)

A, B, C = "91310000MA00000012", "91310000MA00000025", "91310000MA00000038"  # valid codes
NEW_KIND = "joint-withdrawal"  # what a newer shuangsui may write
WITHDRAWAL = {"joint": "ccc-j-2026-12", "credit_code": A, "check_item": "CCC-01",
              "inspected_on": "2026-11-15", "reason": "联合抽查撤回"}  # fmt: skip
SAID = (f"1 entry of a kind this shuangsui does not know ({NEW_KIND} 1) kept, not applied: "
        "a newer shuangsui reads them")  # fmt: skip


def append_new_kind(bureau: Bureau, monkeypatch: pytest.MonkeyPatch, kind: str, entry_id: str,
                    body: dict[str, Any], supersedes: str | None = None) -> None:  # fmt: skip
    """Append an entry of ``kind`` to ``bureau``'s log by the log's own append, as a
    shuangsui that knows the kind does (this one's writers refuse it: ``entries.KINDS``) once
    Fujian said it keeps kinds it does not know (``exchange.kinds``)."""
    with monkeypatch.context() as m:
        heard_from_fujian(bureau, m)
        m.setattr(entries, "KINDS", (*entries.KINDS, kind))
        with Session(bureau.engine) as s:
            log.append(s, origin=bureau.origin, entry_id=entry_id, kind=kind, body=body,
                       supersedes=supersedes)  # fmt: skip
            s.commit()


@dataclass
class Pair:
    fj_engine: sa.Engine
    sh: Bureau
    env: dict[str, str]  # Fujian's, for its commands and its server
    tmp: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "shuangsui", *args], env=self.env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def held(self) -> list[tuple[int, str, str, str | None, str | None, str, str]]:
        with Session(self.fj_engine) as s:
            rows = s.exec(select(PartnerEntry).order_by(col(PartnerEntry.seq))).all()
        return [(r.seq, r.entry_id, r.kind, r.supersedes, r.credit_code, r.body, r.leaf_hash)
                for r in rows]  # fmt: skip

    def shared(self) -> list[tuple[int, str, str]]:
        with Session(self.sh.engine) as s:
            rows = s.exec(select(ExchangeEntry).order_by(col(ExchangeEntry.seq))).all()
        return [(r.seq, r.body, r.leaf_hash) for r in rows]


@pytest.fixture
def served_pair(db_url: str, engine: sa.Engine, tmp_path: Path,
                request: pytest.FixtureRequest) -> Iterator[Pair]:  # fmt: skip
    """Fujian (the configured bureau, on ``engine``) and Shanghai, on a database of the same
    kind, served by its own ``shuangsui serve``; each in the other's directory."""
    sh_url = None
    if db_url.startswith("postgresql"):
        sh_url = request.getfixturevalue("new_postgres_database")("bureau_310000")
    sh = make_bureau(tmp_path, "310000", sh_url)
    port = free_port()
    sh.base_url = f"http://127.0.0.1:{port}"
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url = load_or_create(), "http://127.0.0.1:9"
    write_directory(tmp_path / "home" / "partners.toml", [sh])
    write_directory(sh.home / "partners.toml", [fj])
    servers = Servers(tmp_path)
    sh_env = os.environ | {
        "SHUANGSUI_HOME": str(sh.home), "SHUANGSUI_BUREAU_CODE": sh.code,
        "SHUANGSUI_DATABASE_URL": str(sh.settings.database_url),
        "SHUANGSUI_EXCHANGE_PUBLIC_URL": sh.base_url, "SHUANGSUI_ENVIRONMENT": "test",
        "SHUANGSUI_EXCHANGE_PAGE_SIZE": "2", "SHUANGSUI_EXCHANGE_CHECKPOINT_INTERVAL": "1",
    }  # fmt: skip
    servers.start("310000", sh_env, port)
    try:
        yield Pair(engine, sh, dict(os.environ), tmp_path)
    finally:
        servers.stop_all()
        sh.engine.dispose()
        fj.engine.dispose()


@pytest.mark.slow
def test_an_entry_of_a_kind_not_known_is_kept_verified_and_said(
    served_pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, sh = served_pair, served_pair.sh
    first = publish(sh, A, n=0)
    # the withdrawal names the result it withdraws: applied, it would end A's recognition
    append_new_kind(sh, monkeypatch, NEW_KIND, "joint-withdrawal/ccc-j-2026-12", WITHDRAWAL,
                    supersedes=first)  # fmt: skip
    publish(sh, B, n=1)
    out = p.run("partners", "sync").stdout
    assert out.splitlines() == ["310000 ok: 0 -> 3 (3 new)", f"    {SAID}"], out

    # both results applied; the entry kept as Shanghai's leaf, nothing read from it
    held, shared = p.held(), p.shared()
    assert [(seq, body, lh) for seq, _, _, _, _, body, lh in held] == shared
    assert [row[:5] for row in held] == [
        (0, first, "result", None, A),
        (1, "joint-withdrawal/ccc-j-2026-12", "?" + NEW_KIND, None, None),
        (2, f"result/310000/{B}/1", "result", None, B),
    ]
    with p.fj_engine.connect() as conn:
        cited = partner_inspections(conn, check_item="CCC-01", since=dt.date(2026, 11, 1))
    assert sorted(cited) == [A, B]  # A is not withdrawn by an entry not read
    with Session(p.fj_engine) as s:
        assert s.exec(select(AssistanceCase)).all() == []

    # the tree and its checkpoints cover the entry: Shanghai's signed checkpoint, served now,
    # is the root we hold, and proves the kept leaf is in it
    with PartnerClient(load_directory()["310000"], load_or_create()) as client:
        cp = client.checkpoint()
        proof = client.inclusion(1, cp.size)
    with Session(p.fj_engine) as s:
        state = s.get(PartnerState, "310000")
        assert state is not None and (state.size, state.root) == (3, cp.root.hex())
    assert verify_inclusion_hash(1, 3, bytes.fromhex(held[1][6]), proof, cp.root)

    # said where the coordinator looks: status, the enterprise's view, the partners page
    assert SAID in p.run("partners", "status").stdout
    view = json.loads(p.run("partners", "view", A).stdout)
    assert view["kept_unread"] == {"310000": {"entries": {NEW_KIND: 1}, "said": SAID}}
    assert [r["kind"] for r in view["partners"]] == ["result"]
    row = _partners_page(p).split('id="p-310000"', 1)[1].split("</tr>", 1)[0]
    assert f"其中 1 条为本版本不识别的条目类型（{NEW_KIND} 1 条）" in row and "未采用" in row

    # the next sync moves on from it (a consistency proof over the kept leaf) and adds nothing
    # twice; the one after has nothing new
    publish(sh, C, n=2)
    assert p.run("partners", "sync").stdout.splitlines() == ["310000 ok: 3 -> 4 (1 new)"]
    assert p.run("partners", "sync").stdout.splitlines() == ["310000 ok: 4 -> 4 (0 new)"]
    held = p.held()
    assert [(seq, body, lh) for seq, _, _, _, _, body, lh in held] == p.shared()
    assert [row[2] for row in held] == ["result", "?" + NEW_KIND, "result", "result"]


def _partners_page(p: Pair) -> str:
    """Fujian's workspace partners page, from its own ``shuangsui serve``, signed in as a
    coordinator by a token the command line issued."""
    token = p.run("tokens", "create-coordinator", "李协调").stdout.strip()
    port = free_port()
    servers = Servers(p.tmp)
    servers.start("350000", p.env | {"SHUANGSUI_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"},
                  port)  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
            page = http.get("/w/c/partners")
        assert page.status_code == 200
        return page.text
    finally:
        servers.stop_all()


def test_entries_kept_unread_are_applied_once_the_kind_is_known(
    engine: sa.Engine, pair: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fujian on an older shuangsui, one that does not know retractions: it keeps Shanghai's
    retraction unread, and A stays recognised. Upgraded, its next sync reads the retraction
    from the leaf it kept, with nothing new from Shanghai: A is recognised no longer."""
    sh, transport = pair
    first = publish(sh, A, n=0)
    with Session(sh.engine) as s:
        log.append(s, origin=sh.origin, entry_id=f"retraction/{first}", kind="retraction",
                   body={"reason": "录入错误"}, supersedes=first)  # fmt: skip
        s.commit()
    partner = load_directory()["310000"]

    def recognised() -> list[str]:
        with engine.connect() as conn:
            return sorted(partner_inspections(conn, check_item="CCC-01",
                                              since=dt.date(2026, 11, 1)))  # fmt: skip

    with monkeypatch.context() as older:
        older.setattr(entries, "KINDS", tuple(k for k in entries.KINDS if k != "retraction"))
        out = sync_partner(engine, partner, transport=transport)
        assert (out.status, out.applied, out.unread, out.reread) == ("ok", 2, {"retraction": 1}, 0)
        assert recognised() == [A]
        again = sync_partner(engine, partner, transport=transport)  # still older: stays kept
        assert (again.applied, again.unread, again.reread) == (0, {}, 0)
    out = sync_partner(engine, partner, transport=transport)
    assert (out.status, out.before, out.after, out.applied, out.reread) == ("ok", 2, 2, 0, 1)
    assert recognised() == []
    with Session(engine) as s:
        rows = s.exec(select(PartnerEntry).order_by(col(PartnerEntry.seq))).all()
    assert [(r.seq, r.kind, r.supersedes) for r in rows] == [
        (0, "result", None), (1, "retraction", first)
    ]  # fmt: skip
    assert sync_partner(engine, partner, transport=transport).reread == 0  # read once


AT = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
ORIGIN = "shuangsui.310000"


def _doc(**changed: Any) -> bytes:
    doc = {"v": 1, "origin": ORIGIN, "seq": 5, "id": "x/5", "kind": NEW_KIND,
           "at": "2026-12-01T09:00:00Z", "supersedes": None, "body": {}} | changed  # fmt: skip
    for key in [k for k, v in changed.items() if v is _GONE]:
        del doc[key]
    return canonical_json(doc)


_GONE = object()


def test_a_kind_not_known_is_taken_only_in_a_well_formed_envelope() -> None:
    kept = parse_entry(_doc(), origin=ORIGIN, seq=5)
    assert kept["kind"] == NEW_KIND and kept["body"] == {}
    assert parse_entry(_doc(kind="a" + "-9" * 15), origin=ORIGIN, seq=5)  # 31 characters
    refused = {
        _doc(kind="a" * 32): f"entry 5: kind: '{'a' * 32}' is not a kind",
        _doc(kind="Joint-withdrawal"): "entry 5: kind: 'Joint-withdrawal' is not a kind",
        _doc(kind="joint_withdrawal"): "entry 5: kind: 'joint_withdrawal' is not a kind",
        _doc(kind="?result"): "entry 5: kind: '?result' is not a kind",
        _doc(kind="-x"): "entry 5: kind: '-x' is not a kind",
        _doc(kind="x\n"): "entry 5: kind: 'x\\n' is not a kind",
        _doc(kind=""): "entry 5: kind: '' is not a kind",
        _doc(kind=7): "entry 5: kind: '7' is not a kind",
        _doc(kind=None): "entry 5: kind: 'None' is not a kind",
        _doc(kind=_GONE): "entry 5: kind: 'None' is not a kind",
        _doc(extra="x"): "entry 5: 'extra': not a field of a version 1 entry",
        _doc(supersedes=_GONE): "entry 5: supersedes: missing",
        _doc(at="2026-12-01 09:00:00"): "entry 5: at: a time written YYYY-MM-DDTHH:MM:SSZ",
        _doc(at="２０２6-12-01T09:00:00Z"): "entry 5: at: a time written",
        _doc(at=1): "entry 5: at: a time written",
        _doc(supersedes=3): "entry 5: supersedes: an entry id or null is needed",
        _doc(body=[]): "entry 5: body: a JSON object is needed",
        _doc(body=_GONE): "entry 5: body: missing",
        _doc(id=""): "entry 5: no id",
        _doc(id="x\u202e"): "entry 5: id holds a control or invisible character",
    }
    for bad, reason in refused.items():
        with pytest.raises(ValueError) as err:
            parse_entry(bad, origin=ORIGIN, seq=5)
        assert str(err.value).startswith(reason), (bad, str(err.value))
    # a known kind is checked as before: its envelope's extra fields are its own affair
    known = make_entry(origin=ORIGIN, seq=5, entry_id="r/5", kind="result", at=AT, body={})
    assert parse_entry(known, origin=ORIGIN, seq=5)["kind"] == "result"
    with pytest.raises(ValueError, match="^entry 5: body: a JSON object is needed$"):
        parse_entry(_doc(kind="result", body="x"), origin=ORIGIN, seq=5)


def test_a_malformed_kind_fails_the_sync_naming_entry_and_field(
    engine: sa.Engine, pair: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sh, transport = pair
    publish(sh, A, n=0)
    append_new_kind(sh, monkeypatch, "Joint_Withdrawal", "jw/1", WITHDRAWAL)
    out = sync_partner(engine, load_directory()["310000"], transport=transport)
    assert (out.status, out.after, out.applied) == ("refused", 0, 0)
    assert (out.error or "").startswith(
        "partner 310000: entry 1: kind: 'Joint_Withdrawal' is not a kind (a-z, then a-z, 0-9 "
        "or -, 31 characters at most). Refused, and for good: "
    ), out.error
    with Session(engine) as s:
        assert s.exec(select(PartnerEntry)).all() == []
