"""Partners say, signed, which entry kinds they read and whether they keep the others
(``GET /exchange/v1/about``); each sync keeps what they said; and our log appends an entry of
a kind outside the first six only when every partner that pulls it reads or keeps that kind.

One log serves every partner, and a shuangsui older than b4c4f80 fails its every sync of a log
holding an entry of a kind it does not know. Nothing said so before: a bureau that wrote a new
kind stopped such a partner for good. Fujian (the configured bureau) pulls Shanghai (a real
``shuangsui serve``) and Jiangsu (another, behind a proxy that answers the statement as an
older shuangsui does, 404, or with garbage, 8 MiB, 20,000 JSON values, or a forged signature),
on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, col, select

from draw.canonical import canonical_json
from exchange import about, entries, kinds, log
from exchange.errors import KindNotWritable
from exchange.keys import load_or_create
from exchange.models import ExchangeEntry, PartnerEntry, PartnerState
from exchange.notes import verifier_key
from shuangsui.clock import local_label
from tests.exchange.bureaus import Bureau, Servers, make_bureau, publish, write_directory
from tests.exchange.proxy import FaultProxy
from tests.servers import free_port
from tests.workspace.helpers import sign_in

A, B, C = "91310000MA00000012", "91310000MA00000025", "91310000MA00000038"  # valid codes
NEW = "entropy-attestation"  # a kind no shuangsui writes yet: introduced by this test only
SIX = sorted(kinds.BASELINE)
AT = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)


@dataclass
class Trio:
    fj_engine: sa.Engine
    sh: Bureau
    js: Bureau
    proxy: FaultProxy  # in front of Jiangsu
    servers: Servers
    tmp: Path

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run([sys.executable, "-m", "shuangsui", *args],
                              env=env or dict(os.environ), capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    def run_failing(self, *args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "shuangsui", *args], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        return proc.stdout

    def about(self, code: str) -> dict[str, Any] | None:
        with Session(self.fj_engine) as s:
            state = s.get(PartnerState, code)
            return state.about if state else None

    def ours(self) -> list[str]:
        with Session(self.fj_engine) as s:
            return list(s.exec(select(ExchangeEntry.kind).order_by(col(ExchangeEntry.seq))).all())


def taken(said: dict[str, Any]) -> str:
    """When a kept statement was taken, as the command and the pages say it (the bureau's
    time, Asia/Shanghai here)."""
    return local_label(dt.datetime.fromisoformat(said["read_at"]))


def _env(b: Bureau, public_url: str) -> dict[str, str]:
    return os.environ | {
        "SHUANGSUI_HOME": str(b.home), "SHUANGSUI_BUREAU_CODE": b.code,
        "SHUANGSUI_DATABASE_URL": str(b.settings.database_url),
        "SHUANGSUI_EXCHANGE_PUBLIC_URL": public_url, "SHUANGSUI_ENVIRONMENT": "test",
    }  # fmt: skip


@pytest.fixture
def trio(db_url: str, engine: sa.Engine, tmp_path: Path,
         request: pytest.FixtureRequest) -> Iterator[Trio]:  # fmt: skip
    urls: dict[str, str | None] = {"310000": None, "320000": None}
    if db_url.startswith("postgresql"):
        make = request.getfixturevalue("new_postgres_database")
        urls = {code: make(f"bureau_{code}") for code in urls}
    sh, js = (make_bureau(tmp_path, code, url) for code, url in urls.items())
    ports = {"310000": free_port(), "320000": free_port()}
    sh.base_url = f"http://127.0.0.1:{ports['310000']}"
    proxy = FaultProxy(f"http://127.0.0.1:{ports['320000']}", js.origin)
    js.base_url = f"http://127.0.0.1:{proxy.port}"  # partners reach Jiangsu through the proxy
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url = load_or_create(), "http://127.0.0.1:9"
    write_directory(tmp_path / "home" / "partners.toml", [sh, js])
    for b in (sh, js):
        write_directory(b.home / "partners.toml", [fj])
    servers = Servers(tmp_path)
    servers.start("310000", _env(sh, sh.base_url), ports["310000"])
    servers.start("320000", _env(js, js.base_url), ports["320000"])
    try:
        yield Trio(engine, sh, js, proxy, servers, tmp_path)
    finally:
        servers.stop_all()
        proxy.close()
        for b in (sh, js, fj):
            b.engine.dispose()


def both_synced(t: Trio) -> None:
    """Shanghai and Jiangsu each log a result, and Fujian syncs both: each said, signed, that
    it keeps entries of kinds it does not know."""
    publish(t.sh, A, n=0)
    publish(t.js, B, n=0)
    assert t.run("partners", "sync").splitlines() == [
        "310000 ok: 0 -> 1 (1 new)", "320000 ok: 0 -> 1 (1 new)"
    ]  # fmt: skip


def _append(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, kind: str, n: int) -> None:
    """Fujian appends an entry of ``kind`` by its log's own writer, as a shuangsui that knows
    the kind would (``entries.KINDS`` holds it only here)."""
    with monkeypatch.context() as m:
        m.setattr(entries, "KINDS", (*entries.KINDS, kind))
        with Session(engine) as s:
            log.append(s, origin="shuangsui.350000", entry_id=f"{kind}/{n}", kind=kind,
                       body={"round": f"r{n}"})  # fmt: skip
            s.commit()


@pytest.mark.slow
def test_partners_say_what_they_read_and_a_new_kind_waits_for_every_one(
    trio: Trio, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = trio
    publish(t.sh, A, n=0)
    publish(t.js, B, n=0)
    t.proxy.about = "older"  # Jiangsu answers as a shuangsui without the statement

    # nobody said anything yet: the writer refuses, naming both, and appends nothing
    with pytest.raises(KindNotWritable) as refused:
        _append(t.fj_engine, monkeypatch, NEW, 1)
    said = str(refused.value)
    assert said.startswith(f"an entry of kind '{NEW}' is not appended to our log: ")
    assert "310000 (局310000): has not said which entry kinds it reads" in said
    assert "320000 (局320000): has not said which entry kinds it reads" in said
    assert t.ours() == []

    out = t.run("partners", "sync")
    assert out.splitlines() == ["310000 ok: 0 -> 1 (1 new)", "320000 ok: 0 -> 1 (1 new)"], out
    sh_said, js_said = t.about("310000"), t.about("320000")
    assert sh_said is not None and js_said is not None
    assert (sh_said["state"], sh_said["reads"], sh_said["keeps_unknown_kinds"]) == (
        "advertised", sorted(entries.KINDS), True)  # fmt: skip
    # the signed document is kept, and verifies against Shanghai's key by the statement's rule
    st = sh_said["document"]["statement"]
    assert st["origin"] == "shuangsui.310000" and st["versions"] == [1]
    signature = base64.b64decode(sh_said["document"]["signature"])
    t.sh.key.public.ed25519().verify(signature, about.DOMAIN + canonical_json(st))
    assert js_said["state"] == "absent"

    status = t.run("partners", "status")
    assert (f"    entry kinds: reads {', '.join(sorted(entries.KINDS))}; keeps entries of "
            f"other kinds unread (taken at {taken(sh_said)})") in status  # fmt: skip
    assert (
        f"    entry kinds: said nothing of the kinds it reads (HTTP 404 at "
        f"{taken(js_said)}: a shuangsui older than GET /exchange/v1/about): it reads "
        f"only {', '.join(SIX)} and fails its sync on an entry of any other kind"
    ) in status
    view = json.loads(t.run("partners", "view", A))
    assert view["entry_kinds"]["320000"]["state"] == "absent"
    assert view["entry_kinds"]["310000"]["keeps_unknown_kinds"] is True
    assert "document" not in view["entry_kinds"]["310000"]

    # Jiangsu is older: the new kind is refused for it alone; the first six are written anyway
    with Session(t.fj_engine) as s:
        assert [b.code for b in kinds.may_write(s, NEW)] == ["320000"]
        assert kinds.may_write(s, "result") == []
    with pytest.raises(KindNotWritable) as refused:
        _append(t.fj_engine, monkeypatch, NEW, 1)
    assert "310000" not in str(refused.value)
    assert "320000 (局320000): said nothing of the kinds it reads (HTTP 404 at" in str(
        refused.value
    )
    assert t.ours() == []
    _append(t.fj_engine, monkeypatch, "result", 1)
    assert t.ours() == ["result"]

    # Jiangsu upgrades; once synced, the new kind is written, and both partners keep it
    t.proxy.about = ""
    out = t.run("partners", "sync", "320000")  # the operator is told, in one line
    js_said = t.about("320000")
    assert js_said is not None
    assert out.splitlines() == [
        "320000 ok: 1 -> 1 (0 new)",
        f"    entry kinds: reads {', '.join(sorted(entries.KINDS))}; keeps entries of other "
        f"kinds unread (taken at {taken(js_said)}); before: it said nothing (HTTP 404: an "
        "older shuangsui)",
    ], out
    with Session(t.fj_engine) as s:
        assert kinds.may_write(s, NEW) == []
    _append(t.fj_engine, monkeypatch, NEW, 2)
    assert t.ours() == ["result", NEW]
    page = _served_fujian(t)
    row = page.split('id="p-320000"', 1)[1].split("</tr>", 1)[0]
    assert f"读取 {'、'.join(sorted(entries.KINDS))}；其他类型的条目保存、不采用" in row


def _served_fujian(t: Trio) -> str:
    """Fujian served by its own ``shuangsui serve``: Shanghai and Jiangsu pull its log (an
    entry of each kind kept, the new one unread) and its partners page is returned."""
    with fujian_served(t) as (url, partners_page):
        fj = make_bureau(t.tmp / "again", "350000")
        fj.key, fj.base_url = load_or_create(), url
        fj.engine.dispose()
        for b in (t.sh, t.js):
            write_directory(b.home / "partners.toml", [fj])
            out = t.run("partners", "sync", env=_env(b, b.base_url))
            assert out.splitlines() == [
                "350000 ok: 0 -> 2 (2 new)",
                f"    1 entry of a kind this shuangsui does not know ({NEW} 1) kept, not "
                "applied: a newer shuangsui reads them",
            ], out
            with Session(b.engine) as s:
                kept = s.exec(select(PartnerEntry.kind).order_by(col(PartnerEntry.seq))).all()
            assert kept == ["result", "?" + NEW]
        return partners_page()


@contextlib.contextmanager
def fujian_served(t: Trio) -> Iterator[tuple[str, Callable[[], str]]]:
    """Fujian (the configured bureau) served by its own ``shuangsui serve``: its address, and
    a reader of its workspace's partners page, signed in as a coordinator."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = t.run("tokens", "create-coordinator", "李协调").strip()

    def partners_page() -> str:
        with httpx.Client(base_url=url, timeout=20) as http:
            assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
            page = http.get("/w/c/partners")
        assert page.status_code == 200
        return page.text

    t.servers.start("350000", dict(os.environ) | {"SHUANGSUI_PUBLIC_BASE_URL": url}, port)
    try:
        yield url, partners_page
    finally:
        t.servers.stop("350000")


HOSTILE = {
    "garbage": "partner 320000: malformed JSON from ",
    "huge": "the answer is larger than 65536 bytes, the bound of a feed's statement of "
    "itself; not read",
    "values": "the answer holds more than 1000 JSON values, the bound of a feed's statement "
    "of itself; not parsed",
    "forged": "GET /exchange/v1/about: signature: not made by a key of the partner directory",
}


@pytest.mark.slow
def test_a_statement_that_cannot_be_taken_is_a_reason_not_a_failed_sync(trio: Trio) -> None:
    """Each hostile answer is bounded and named; the partner's log is still pulled, and what
    it said before no longer counts: nothing new is written to it until it says it again."""
    t = trio
    assert t.run("partners", "sync").splitlines() == [
        "310000 ok: 0 -> 0 (0 new)", "320000 ok: 0 -> 0 (0 new)"
    ]  # fmt: skip
    assert (t.about("320000") or {}).get("state") == "advertised"
    for n, (mode, reason) in enumerate(HOSTILE.items()):
        t.proxy.about = mode
        publish(t.js, C, n=n)
        out = t.run("partners", "sync", "320000")
        said = t.about("320000")
        assert said is not None and said["state"] == "unreadable", mode
        # the sync says it under the partner, every time (unreadable after unreadable too)
        assert out.splitlines() == [
            f"320000 ok: {n} -> {n + 1} (1 new)",
            f"    entry kinds: which entry kinds it reads is not known (at {taken(said)}): "
            + said["reason"],
        ], (mode, out)
        assert reason in said["reason"], (mode, said)
        assert said["reason"].isprintable() and len(said["reason"]) <= 600, said
        with Session(t.fj_engine) as s:
            (breaks,) = kinds.may_write(s, NEW)
        assert breaks.code == "320000" and reason in breaks.said, (mode, breaks)
        status = t.run("partners", "status")
        assert "    entry kinds: which entry kinds it reads is not known (at " in status
        assert reason in status, (mode, status)

    # a sync that fails before asking says nothing of it: it learnt nothing new
    t.proxy.mode = "forged"
    out = t.run_failing("partners", "sync", "320000")
    assert len(out.splitlines()) == 1, out
    assert out.startswith(f"320000 FAILED: {n + 1} -> {n + 1} (0 new): "), out
    # said again: the line says what it reads now; the sync after it, an ordinary one, nothing
    t.proxy.mode = t.proxy.about = ""
    out = t.run("partners", "sync")
    js_said = t.about("320000")
    assert js_said is not None and js_said["state"] == "advertised"
    assert out.splitlines() == [
        "310000 ok: 0 -> 0 (0 new)",
        f"320000 ok: {n + 1} -> {n + 1} (0 new)",
        f"    entry kinds: reads {', '.join(sorted(entries.KINDS))}; keeps entries of other "
        f"kinds unread (taken at {taken(js_said)}); before: not known",
    ], out
    assert t.run("partners", "sync").splitlines() == [
        "310000 ok: 0 -> 0 (0 new)", f"320000 ok: {n + 1} -> {n + 1} (0 new)"
    ]  # fmt: skip


@pytest.mark.slow
def test_a_partner_whose_sync_breaks_stops_not_the_others(trio: Trio) -> None:
    """``partners sync`` of every partner went no further than the first whose sync raised
    something not the partner's fault (a bug, a database fault), with a traceback: the
    partners after it were not synced. The fault here is real: Fujian's own database refuses
    Shanghai's entries (a trigger on ``partner_entry``), Shanghai served by ``shuangsui
    serve``; Jiangsu, after it in the directory, is synced still, and the command exits 1."""
    t = trio
    publish(t.sh, A, n=0)
    publish(t.js, B, n=0)
    refuse = {
        "sqlite": "CREATE TRIGGER refuse_310000 BEFORE INSERT ON partner_entry "
        "WHEN NEW.partner_code = '310000' BEGIN SELECT RAISE(ABORT, 'disk quota of 310000'); END",
        "postgresql": "CREATE FUNCTION refuse_310000() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NEW.partner_code = '310000' THEN RAISE EXCEPTION 'disk quota of 310000' "
        "USING ERRCODE = 'disk_full'; "
        "END IF; RETURN NEW; END $$; CREATE TRIGGER refuse_310000 BEFORE INSERT ON "
        "partner_entry FOR EACH ROW EXECUTE FUNCTION refuse_310000()",
    }[t.fj_engine.dialect.name]
    with t.fj_engine.begin() as conn:
        conn.exec_driver_sql(refuse)
    proc = subprocess.run([sys.executable, "-m", "shuangsui", "partners", "sync"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    first, *rest = proc.stdout.splitlines()
    fault = {"sqlite": "IntegrityError", "postgresql": "OperationalError"}[t.fj_engine.dialect.name]
    # the database's own words, on one line; SQLAlchemy's statement and values in the log
    assert first.startswith(f"310000 ERROR: {fault}: disk quota of 310000"), proc.stdout
    assert "INSERT" not in first and len(first) <= 350, first
    assert rest == ["320000 ok: 0 -> 1 (1 new)"], proc.stdout
    assert "Traceback" in proc.stderr and "sync of partner 310000 stopped" in proc.stderr
    with Session(t.fj_engine) as s:
        held = s.exec(select(PartnerEntry.partner_code)).all()
        sh_state = s.get(PartnerState, "310000")
    assert held == ["320000"] and sh_state is not None and sh_state.size == 0
    # the fault mended, Shanghai's next sync takes its entry: nothing was left half done
    with t.fj_engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse_310000" + (
            " ON partner_entry" if t.fj_engine.dialect.name == "postgresql" else ""))  # fmt: skip
    assert t.run("partners", "sync", "310000").splitlines() == ["310000 ok: 0 -> 1 (1 new)"]


def test_a_statement_is_taken_only_signed_fresh_and_of_its_origin() -> None:
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key("shuangsui.310000", key)
    other = verifier_key("shuangsui.310000", Ed25519PrivateKey.generate())

    def signed(**changed: Any) -> dict[str, Any]:
        st = about.statement("shuangsui.310000", entries.KINDS, AT) | changed
        return about.sign({k: v for k, v in st.items() if v is not None}, key)

    taken = about.check(signed(), [other, vkey], "shuangsui.310000", AT, 300)
    assert (taken.reads, taken.keeps_unknown_kinds) == (tuple(sorted(entries.KINDS)), True)
    # a later version's fields are signed with the rest and not read
    later = signed(features=["joint-v2"], reads=["result", "x-1"], **{"keeps-unknown-kinds": False})
    assert about.check(later, [vkey], "shuangsui.310000", AT, 300).reads == ("result", "x-1")
    minutes = dt.timedelta(minutes=5, seconds=1)
    refused = {
        "statement.origin: 'shuangsui.320000' is not 'shuangsui.310000'":
            signed(origin="shuangsui.320000"),
        "statement.at: 2026-12-06T10:00:00Z is more than 300 s from our clock":
            (signed(), AT + minutes),
        "statement.at: 2026-12-06T09:54:59Z is more than 300 s":
            signed(at="2026-12-06T09:54:59Z"),
        "statement.at: a time written": signed(at="2026-12-06 10:00:00"),
        "statement.reads: a list of at most 256 kinds": signed(reads=["Result"]),
        "statement.reads: a list": signed(reads=["x"] * 257),
        "statement.keeps-unknown-kinds: true or false": signed(**{"keeps-unknown-kinds": 1}),
        "statement.versions: a list holding 1": signed(versions=[2]),
        'statement: v 1 and type "exchange-about"': signed(v=2),
        "statement.reads: missing": signed(reads=None),
        "exactly statement and signature": signed() | {"key": "x"},
        "signature: base64 of 64 bytes": signed() | {"signature": "AAAA"},
        "signature: not made by a key of the partner directory":
            signed() | {"statement": about.statement("shuangsui.310000", ["round"], AT)},
    }  # fmt: skip
    for reason, case in refused.items():
        doc, now = case if isinstance(case, tuple) else (case, AT)
        with pytest.raises(about.AboutRefused) as err:
            about.check(doc, [vkey], "shuangsui.310000", now, 300)
        assert str(err.value).startswith(reason), (reason, str(err.value))
    # what a checkpoint or a cosignature signs is never a statement: its own prefix
    assert about.DOMAIN == b"shuangsui-exchange-about/v1\n"


def test_every_partner_that_pulls_our_log_counts_a_disabled_one_too_a_revoked_one_not(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A partner disabled by a mistake in its entry pulls our log again once the entry is
    mended: what it said last still decides. One revoked (``keys = []``) pulls nothing."""
    from exchange.directory import parse_directory

    text = ""
    for code, url, revoked in (("310000", "http://sh.test", False),
                               ("320000", "ftp://js.test", False),  # not http(s): disabled
                               ("330000", "http://zj.test", True)):  # fmt: skip
        key = verifier_key(f"shuangsui.{code}", Ed25519PrivateKey.generate()).text
        keys = "[]" if revoked else f'["{key}"]'
        text += (f'[[partner]]\ncode = "{code}"\nname = "局{code}"\ndivision = "{code}"\n'
                 f'base_url = "{url}"\nkeys = {keys}\n\n')  # fmt: skip
    directory = parse_directory(text, tmp_path / "partners.toml")
    assert kinds.pulling(directory) == {
        "310000": "局310000", "320000": "disabled in the directory: base_url"
    }  # fmt: skip
    keeps = {"state": "advertised", "reads": SIX, "keeps_unknown_kinds": True,
             "signed_at": "2026-12-06T10:00:00Z", "read_at": "2026-12-06T10:00:00Z"}  # fmt: skip
    kinds.keep(engine, "310000", keeps)
    with Session(engine) as s:
        (breaks,) = kinds.may_write(s, NEW, directory)
        assert str(breaks) == (
            "320000 (disabled in the directory: base_url): has not said which entry kinds it "
            "reads (not synced since we ask)"
        )
    kinds.keep(engine, "320000", keeps | {"keeps_unknown_kinds": False, "reads": [*SIX, NEW]})
    with Session(engine) as s:
        assert kinds.may_write(s, NEW, directory) == []  # one keeps it, the other reads it
        assert [b.code for b in kinds.may_write(s, "other-kind", directory)] == ["320000"]
