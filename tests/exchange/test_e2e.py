"""Three bureaus (Fujian, Shanghai, Zhejiang) as separate `shuangsui serve` processes on loopback,
each with its own database and keys: rounds, recognition, assistance, faults, convergence."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from exchange.models import (
    AssistanceCase,
    ExchangeCheckpoint,
    ExchangeEntry,
    ExchangeHead,
    ExchangeNode,
    PartnerEntry,
    PartnerState,
)
from rounds.service import artifact
from shuangsui.clock import local_time
from tests.exchange.bureaus import (
    Bureau,
    Servers,
    make_bureau,
    publish,
    rewrite_entry,
    write_directory,
)
from tests.exchange.proxy import FaultProxy
from tests.rounds.factories import plan_yaml, seed_registry
from tests.servers import free_port

pytestmark = pytest.mark.slow
NAMES = {"350000": "福建", "310000": "上海", "330000": "浙江"}
VERIFY = Path(__file__).resolve().parents[2] / "exchange" / "verify_exchange.py"
DIGITS = ["--digits", "31415926535897932384626433", "--witness", "张三", "--witness", "李四"]


class World:
    def __init__(self, tmp: Path, urls: dict[str, str] | None = None, quorum: int = 0):
        self.tmp, self.servers = tmp, Servers(tmp)
        self.interval = "300" if quorum else "1"  # witnessing: checkpoints re-signed on growth
        self.b = {c: make_bureau(tmp, c, (urls or {}).get(c)) for c in NAMES}
        self.ports = {c: free_port() for c in NAMES}
        self.codes: dict[str, list[str]] = {}
        for c, b in self.b.items():
            b.base_url = f"http://127.0.0.1:{self.ports[c]}"
            self.codes[c] = seed_registry(b.engine, seed=int(c[:2]), province=c[:2])
        self.proxy = FaultProxy(self.b["310000"].base_url, "shuangsui.310000",
                                on_stop=lambda: self.stop("310000"))  # fmt: skip
        for c, b in self.b.items():
            others = []
            for o in NAMES:
                if o == c:
                    continue
                p = Bureau(**{**self.b[o].__dict__})
                if o == "310000":  # Shanghai is reached through its (fault-injecting) proxy
                    p.base_url = self.public_url(o)
                others.append(p)
            write_directory(b.home / "partners.toml", others)
            if quorum:
                text = (b.home / "partners.toml").read_text(encoding="utf-8")
                (b.home / "partners.toml").write_text(f"witness_quorum = {quorum}\n" + text,
                                                      encoding="utf-8")  # fmt: skip

    def public_url(self, code: str) -> str:
        """Where partners reach the bureau: Shanghai's feed sits behind the proxy."""
        return f"http://127.0.0.1:{self.proxy.port}" if code == "310000" else self.b[code].base_url

    def env(self, code: str) -> dict[str, str]:
        b = self.b[code]
        return os.environ | {
            "SHUANGSUI_EXCHANGE_PUBLIC_URL": self.public_url(code),
            "SHUANGSUI_HOME": str(b.home), "SHUANGSUI_BUREAU_CODE": code,
            "SHUANGSUI_PLANS_DIR": str(self.tmp),  # the tests write their plans there
            "SHUANGSUI_DATABASE_URL": str(b.settings.database_url),
            "SHUANGSUI_ENVIRONMENT": "test", "SHUANGSUI_EXCHANGE_PAGE_SIZE": "3",
            "SHUANGSUI_EXCHANGE_CHECKPOINT_INTERVAL": self.interval,
        }  # fmt: skip

    def run(self, code: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "shuangsui", *args], env=self.env(code),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def start(self, code: str, name: str | None = None, env: dict[str, str] | None = None,
              port: int | None = None) -> None:  # fmt: skip
        self.servers.start(name or code, env or self.env(code), port or self.ports[code])

    def stop(self, code: str) -> None:
        self.servers.stop(code)

    def held(self, code: str, partner: str) -> tuple[int, int]:
        with Session(self.b[code].engine) as s:
            n = len(s.exec(select(PartnerEntry).where(PartnerEntry.partner_code == partner)).all())
            st = s.get(PartnerState, partner)
            return n, st.size if st else 0

    def shared(self, code: str) -> list[tuple[int, str]]:
        with Session(self.b[code].engine) as s:
            return [
                (e.seq, e.leaf_hash)
                for e in s.exec(select(ExchangeEntry).order_by(ExchangeEntry.seq))
            ]  # type: ignore[arg-type]

    def pulled(self, code: str, partner: str) -> list[tuple[int, str]]:
        with Session(self.b[code].engine) as s:
            q = (
                select(PartnerEntry)
                .where(PartnerEntry.partner_code == partner)
                .order_by(PartnerEntry.seq)
            )  # type: ignore[arg-type]
            return [(e.seq, e.leaf_hash) for e in s.exec(q)]


def _world(request: pytest.FixtureRequest, tmp_path: Path, quorum: int = 0) -> Iterator[World]:
    urls = None
    if request.param == "postgres":
        make = request.getfixturevalue("new_postgres_database")
        urls = {code: make(f"bureau_{code}") for code in NAMES}
    w = World(tmp_path, urls, quorum)
    try:
        for code in NAMES:
            w.start(code)
        yield w
    finally:
        w.servers.stop_all()
        w.proxy.close()
        for b in w.b.values():
            b.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """Each bureau with a database of its own: SQLite files, or PostgreSQL databases."""
    yield from _world(request, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def witnessed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The same three bureaus, each asking 2 witnesses (itself and the third) per checkpoint."""
    yield from _world(request, tmp_path, quorum=2)


def _sync_all(w: World) -> None:
    for code in NAMES:
        w.run(code, "partners", "sync")


def test_three_bureaus(world: World, tmp_path: Path) -> None:
    w = world
    fj, fj_codes = w.b["350000"], w.codes["350000"]
    # each runs a round (its record joins its log in the draw's transaction: the plans say
    # on-draw, since the CLI draws on today's date, maybe inside the window) and publishes
    for code in NAMES:  # each over its own jurisdiction
        plan = tmp_path / f"plan-{code}.yaml"
        plan.write_text(plan_yaml(division=code, extra="disclosure: on-draw"), encoding="utf-8")
        w.run(code, "round", "commit", str(plan))
        w.run(code, "round", "draw", "ccc-2026-12", *DIGITS)
    with Session(fj.engine) as s:
        body = json.loads(s.get(ExchangeEntry, 0).body)["body"]  # type: ignore[union-attr]
    assert body["round_key"] == "ccc-2026-12" and body["seed"]
    target = next(c for c in fj_codes if c not in body["selection"])
    w.run("310000", "partners", "publish-result", target, "CCC-01", "2026-11-20", "合格",
          "--round-key", "sh-2026-11")  # fmt: skip
    _sync_all(w)
    assert w.pulled("350000", "310000") == w.shared("310000")

    # mutual recognition: Shanghai's inspection excludes the enterprise from Fujian's next draw
    plan2 = tmp_path / "plan2.yaml"
    plan2.write_text(plan_yaml(plan_id="ccc-2027-01", period="2027-01"), encoding="utf-8")
    w.run("350000", "round", "commit", str(plan2))
    with Session(fj.engine) as s:
        frame = [
            json.loads(x)
            for x in artifact(s, "ccc-2027-01", "frame-enterprises.jsonl").splitlines()
        ]
    unit = next(u for u in frame if u["credit_code"] == target)
    assert unit["status"] == "excluded" and "shuangsui.310000" in unit["note"], unit
    assert "result/sh-2026-11/" in unit["note"]
    w.run("350000", "round", "draw", "ccc-2027-01", *DIGITS)

    # assistance: Fujian asks Zhejiang; Zhejiang accepts, draws a team, publishes the result
    zj_ent = "91330100MA2TE0T01Y"  # a valid credit code: publish-result checks it
    # publish-result refuses a day to come: the check took place yesterday, inside the window
    checked = local_time(dt.datetime.now(dt.UTC)).date() - dt.timedelta(days=1)  # the bureaus' zone
    window = (checked - dt.timedelta(days=3), checked + dt.timedelta(days=20))
    out = w.run("350000", "partners", "assist", "request", "--to", "330000", "--credit-code",
                zj_ent, "--division", "330100", "--check-item", "CCC-01", "--cert-kind", "ccc",
                "--reason", "证书由本局监管, 工厂在浙江", "--start", str(window[0]),
                "--end", str(window[1])).stdout  # fmt: skip
    req = out.split()[1]
    w.run("330000", "partners", "sync", "350000")
    w.run("330000", "partners", "assist", "accept", "350000", req)
    w.run("350000", "partners", "sync", "330000")
    with Session(fj.engine) as s:
        case = s.get(AssistanceCase, ("350000", req))
        assert case is not None and case.status == "accepted" and len(case.answer["team"]) == 2  # type: ignore[index]
    w.run("330000", "partners", "publish-result", zj_ent, "CCC-01", str(checked), "合格",
          "--assist-requester", "350000", "--assist-request-id", req)  # fmt: skip
    w.run("350000", "partners", "sync", "330000")
    with Session(fj.engine) as s:
        case = s.get(AssistanceCase, ("350000", req))
        assert case is not None and case.status == "completed", case
    view = json.loads(w.run("350000", "partners", "view", zj_ent).stdout)
    assert any(r["partner"] == "330000" and r["kind"] == "result" for r in view["partners"])

    # faults, one by one: nothing applied, the cursor unmoved, the coordinator told why
    for i in range(4):
        w.run("310000", "partners", "publish-result", fj_codes[i], "CCC-01", "2026-11-2" + str(i),
              "合格", "--round-key", f"sh-extra-{i}")  # fmt: skip
    before = w.held("350000", "310000")
    for mode in ("stop-mid-sync", "forged", "truncated"):
        w.proxy.mode, w.proxy.pages = mode, 0
        res = w.run("350000", "partners", "sync", "310000", ok=False)
        assert res.returncode == 1, (mode, res.stdout, res.stderr)
        assert w.held("350000", "310000") == before, mode
        assert "failed" in w.run("350000", "partners", "status").stdout
        if mode == "stop-mid-sync":
            w.start("310000")
    w.proxy.mode = ""
    # a replayed request is refused by the partner
    path, headers = w.proxy.seen[-1]
    replay = httpx.get(f"http://127.0.0.1:{w.proxy.port}{path}", headers=headers)
    assert (
        replay.status_code == 401 and replay.headers["content-type"] == "application/problem+json"
    )
    assert "replayed" in replay.json()["detail"]
    # a rewritten entry in Shanghai's history: flagged with the evidence
    original = rewrite_entry(w.b["310000"], 0)
    w.run("310000", "partners", "publish-result", fj_codes[5], "CCC-01", "2026-11-28", "合格")
    res = w.run("350000", "partners", "sync", "310000", ok=False)
    assert res.returncode == 1 and "REWROTE ITS HISTORY" in res.stdout
    assert w.held("350000", "310000") == before
    assert "REWROTE ITS HISTORY" in w.run("350000", "partners", "status").stdout
    assert json.loads(w.run("350000", "partners", "conflicts", "310000").stdout)[0]["proof"]

    # recovery: Shanghai puts its history back; all three converge to the same shared view
    rewrite_entry(w.b["310000"], 0, original)
    time.sleep(1.1)  # a fresh checkpoint (interval 1 s)
    _sync_all(w)
    _sync_all(w)
    for code in NAMES:
        for other in NAMES:
            if other != code:
                assert w.pulled(code, other) == w.shared(other), (code, other)
    assert w.held("350000", "310000")[1] > before[1]


def _fork(w: World, code: str) -> tuple[Bureau, int]:
    """A second copy of a bureau's log, keys and directory (SQLite), served by its own
    `shuangsui serve` behind the same public URL: a bureau that keeps two histories."""
    src = w.b[code]
    home = w.tmp / "fork" / f"bureau-{code}"
    shutil.copytree(src.home / "keys", home / "keys")
    shutil.copy(src.home / "partners.toml", home / "partners.toml")
    fork = make_bureau(w.tmp / "fork", code)
    tables = [m.__table__ for m in (ExchangeHead, ExchangeEntry, ExchangeNode, ExchangeCheckpoint)]  # type: ignore[attr-defined]
    with src.engine.connect() as read, fork.engine.begin() as write:
        for table in tables:
            rows = [dict(r) for r in read.execute(sa.select(table)).mappings()]
            if rows:
                write.execute(sa.insert(table), rows)
    port = free_port()
    env = w.env(code) | {"SHUANGSUI_HOME": str(fork.home),
                         "SHUANGSUI_DATABASE_URL": str(fork.settings.database_url)}  # fmt: skip
    w.start(code, name=f"fork-{code}", env=env, port=port)
    return fork, port


def _served_checkpoint(w: World, code: str, reader: str) -> str:
    from exchange.client import PartnerClient
    from exchange.directory import load_directory

    partner = load_directory(w.b[reader].home / "partners.toml")[code]
    with PartnerClient(partner, w.b[reader].key) as client:
        return client.get("/exchange/v1/checkpoint").text


def test_witnesses_quorum_and_a_split_view_caught(witnessed: World, tmp_path: Path) -> None:
    w, fj_codes = witnessed, witnessed.codes["350000"]
    sh_key = w.b["310000"].key.public.text
    for i, code in enumerate(NAMES):
        w.run(code, "partners", "publish-result", fj_codes[i], "CCC-01", "2026-11-2" + str(i),
              "合格", "--round-key", f"{code}-r1")  # fmt: skip
    for _ in range(3):  # cosign, gather the others' cosignatures, apply with quorum
        _sync_all(w)
    for code in NAMES:
        for other in NAMES:
            if other != code:
                assert w.pulled(code, other) == w.shared(other), (code, other)
    # each bureau's checkpoint carries both partners' cosignatures, and says so in status
    note = _served_checkpoint(w, "350000", "310000")
    assert note.count("\n\u2014 ") == 3, note
    assert "cosigned by: shuangsui.310000, shuangsui.330000" in w.run(
        "350000", "partners", "status").stdout  # fmt: skip
    path = tmp_path / "cp.txt"
    path.write_text(note, encoding="utf-8")
    check = [sys.executable, "-I", "-S", str(VERIFY), "checkpoint", str(path), "--log-key",
             w.b["350000"].key.public.text, "--quorum", "2", "--witness", sh_key,
             "--witness", w.b["330000"].key.public.text]  # fmt: skip
    assert subprocess.run(check, capture_output=True, text=True).returncode == 0

    # a witness down: Fujian's new checkpoint reaches 1 of 2; Shanghai applies nothing
    w.stop("330000")
    w.run("350000", "partners", "publish-result", fj_codes[5], "CCC-01", "2026-11-29", "合格")
    before = w.held("310000", "350000")
    out = w.run("310000", "partners", "sync", "350000").stdout
    assert "checkpoint of shuangsui.350000 size 2 reached 1 of 2 cosignatures" in out, out
    assert w.held("310000", "350000") == before
    status = w.run("310000", "partners", "status").stdout
    assert "350000 局350000: quorum" in status and "reached 1 of 2" in status, status
    w.start("330000")
    for _ in range(3):
        _sync_all(w)
    assert w.pulled("310000", "350000") == w.shared("350000")

    # Shanghai keeps two histories: Zhejiang is shown one, Fujian the other
    fork, fork_port = _fork(w, "310000")
    publish(fork, fj_codes[6], n=99)
    w.run("310000", "partners", "publish-result", fj_codes[7], "CCC-01", "2026-11-30", "合格")
    zj_kid = w.b["330000"].key.public.http_key_id
    w.proxy.split = (zj_kid, f"http://127.0.0.1:{fork_port}")
    w.run("350000", "partners", "sync", "310000")
    w.run("330000", "partners", "sync", "310000")  # Zhejiang witnesses the other history
    w.run("350000", "partners", "sync", "330000")  # Fujian reads Zhejiang's cosignatures
    res = w.run("350000", "partners", "sync", "310000", ok=False)
    assert res.returncode == 1 and "EQUIVOCATED" in res.stdout, res.stdout
    assert w.held("350000", "310000")[1] == len(w.shared("310000")) - 1  # nothing new applied
    status = w.run("350000", "partners", "status").stdout
    assert "310000 EQUIVOCATED: shuangsui.310000 signed two checkpoints of size" in status
    # the proof, exported, verifies offline from Shanghai's public key alone
    out_dir = tmp_path / "proofs"
    (proof_path,) = w.run("350000", "partners", "equivocations", "310000", "--out",
                          str(out_dir)).stdout.split()  # fmt: skip
    ok = subprocess.run([sys.executable, "-I", "-S", str(VERIFY), "equivocation", proof_path,
                         "--origin-key", sh_key], capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0 and "OK: shuangsui.310000 signed two checkpoints" in ok.stdout
    # gossiped: Zhejiang learns it from Fujian and refuses Shanghai too
    w.run("330000", "partners", "sync", "350000")
    assert "EQUIVOCATED" in w.run("330000", "partners", "status").stdout
    res = w.run("330000", "partners", "sync", "310000", ok=False)
    assert res.returncode == 1 and "EQUIVOCATED" in res.stdout
    w.proxy.split = None
    fork.engine.dispose()
