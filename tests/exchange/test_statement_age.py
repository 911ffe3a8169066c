"""A partner's statement of the entry kinds it reads counts for 48 hours after it was taken,
or as long as ``SHUANGSUI_EXCHANGE_STATEMENT_MAX_AGE`` says (1 hour to 30 days).

A sync that fails before it asks (the partner's feed down, its checkpoint refused) keeps the
last statement, and the writer's rule (``exchange.kinds.may_write``) went on trusting it
however old: a partner unreachable for weeks, reinstalled meanwhile from an older shuangsui,
still let us write a kind that stops its every sync of our log. Now a statement older than
the bound (``exchange.kinds.max_age``) no longer counts, and ``partners status``, ``partners
view`` and the partners page say when each was taken, in the bureau's time, and that it no
longer counts.
Shanghai and Jiangsu are ``shuangsui serve`` processes; Jiangsu's checkpoint is refused
through a proxy (a forged signature), so its syncs fail before they ask."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from exchange import about, entries, kinds
from exchange.directory import read_directory
from exchange.errors import KindNotWritable
from exchange.models import ExchangeEntry, PartnerState
from tests.exchange import test_entry_kinds_said as kinds_said
from tests.exchange.bureaus import Bureau, make_bureau, write_directory
from tests.exchange.test_entry_kinds_said import NEW, A, Trio, both_synced, fujian_served, taken
from tests.servers import free_port

trio = kinds_said.trio  # Shanghai and Jiangsu, real servers; Fujian the configured bureau
READS = ", ".join(sorted(entries.KINDS))


def _aged(t: Trio, code: str, hours: int) -> dict[str, object]:
    """Partner ``code``'s kept statement as if taken ``hours`` ago (every sync of it since
    failed before asking, as the one the test runs did): what was kept, unchanged, but when."""
    said = t.about(code)
    assert said is not None and said["state"] == "advertised"
    at = entries.iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours))
    kinds.keep(t.fj_engine, code, said | {"read_at": at, "signed_at": at})
    return said | {"read_at": at}


@pytest.mark.slow
def test_a_statement_older_than_48_hours_no_longer_lets_a_new_kind_be_written(
    trio: Trio, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = trio
    both_synced(t)
    kinds_said._append(t.fj_engine, monkeypatch, NEW, 1)  # both said they keep it
    # Jiangsu's syncs fail before they ask: its statement stays as it was taken
    t.proxy.mode = "forged"
    kept = t.about("320000")
    assert t.run_failing("partners", "sync", "320000").startswith("320000 FAILED: 1 -> 1")
    assert t.about("320000") == kept

    _aged(t, "320000", 47)  # within the bound: it counts
    with Session(t.fj_engine) as s:
        assert kinds.may_write(s, NEW) == []
    old = _aged(t, "320000", 49)
    stale = (f"reads {READS}; keeps entries of other kinds unread (taken at {taken(old)}; more "
             "than 48 hours ago, so it no longer counts: no kind outside the first six is "
             "written to it until a sync takes it again)")  # fmt: skip
    with Session(t.fj_engine) as s:
        assert [(b.code, b.said) for b in kinds.may_write(s, NEW)] == [("320000", stale)]
    with pytest.raises(KindNotWritable) as refused:
        kinds_said._append(t.fj_engine, monkeypatch, NEW, 2)
    assert f"320000 (局320000): {stale}" in str(refused.value)
    assert "310000" not in str(refused.value)
    kinds_said._append(t.fj_engine, monkeypatch, "result", 2)  # the first six: written still
    assert t.ours() == [NEW, "result"]

    # said where a statement is shown: when it was taken, in the bureau's time; how old
    sh = t.about("310000")
    assert sh is not None
    status = t.run("partners", "status")
    assert f"    entry kinds: {stale}\n" in status, status
    fresh = f"reads {READS}; keeps entries of other kinds unread (taken at {taken(sh)})"
    assert f"    entry kinds: {fresh}\n" in status, status
    view = json.loads(t.run("partners", "view", A))["entry_kinds"]
    assert (view["320000"]["said"], view["310000"]["said"]) == (stale, fresh)
    with fujian_served(t) as (_url, partners_page):
        page = partners_page()
    rows = {c: page.split(f'id="p-{c}"', 1)[1].split("</tr>", 1)[0] for c in ("310000", "320000")}
    assert (f"（声明取得于 {taken(old)}；已超过 48 小时，不再作数：同步取得新的声明之前，"
            "不向其写入前六种以外类型的条目）") in rows["320000"]  # fmt: skip
    assert f"（声明取得于 {taken(sh)}）" in rows["310000"] and "不再作数" not in rows["310000"]

    # Jiangsu reachable again: its sync takes a statement, and the new kind is written
    t.proxy.mode = ""
    assert t.run("partners", "sync", "320000").splitlines() == ["320000 ok: 1 -> 1 (0 new)"]
    with Session(t.fj_engine) as s:
        assert kinds.may_write(s, NEW) == []
    kinds_said._append(t.fj_engine, monkeypatch, NEW, 3)
    assert t.ours() == [NEW, "result", NEW]


def _said_days_ago(engine: sa.Engine, sh: Bureau, days: float) -> None:
    """What Shanghai said of itself, signed and taken ``days`` ago, kept as a sync keeps it."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    doc = about.sign(about.statement(sh.origin, entries.KINDS, then), sh.key.private)
    partner = read_directory().partners["310000"]
    kinds.keep(engine, "310000", kinds.taken(doc, partner, then))


def _shuangsui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shuangsui", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_how_long_a_statement_counts_is_a_setting(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SHUANGSUI_EXCHANGE_STATEMENT_MAX_AGE``: a bureau that syncs weekly could never write a
    new kind while the bound was 48 hours, fixed. It is a duration of 1 hour to 30 days, the
    refusal and every place a statement is shown giving the bound in force; a value outside
    is refused before anything starts, naming the variable, the value and the range."""
    sh = make_bureau(tmp_path / "partners", "310000")
    sh.base_url = "http://127.0.0.1:9"  # never asked: its statement is kept as a sync keeps it
    write_directory(tmp_path / "home" / "partners.toml", [sh])
    _said_days_ago(engine, sh, 7)
    with Session(engine) as s:  # the default: 48 hours
        assert [b.code for b in kinds.may_write(s, NEW)] == ["310000"]
        assert "more than 48 hours ago, so it no longer counts" in kinds.may_write(s, NEW)[0].said

    monkeypatch.setenv("SHUANGSUI_EXCHANGE_STATEMENT_MAX_AGE", "P8D")  # a weekly sync's slack
    with Session(engine) as s:
        assert kinds.may_write(s, NEW) == []
    kinds_said._append(engine, monkeypatch, NEW, 1)
    assert "more than" not in _shuangsui("partners", "status").stdout

    _said_days_ago(engine, sh, 9)
    with pytest.raises(KindNotWritable) as refused:
        kinds_said._append(engine, monkeypatch, NEW, 2)
    assert "(局310000): reads" in str(refused.value)
    assert "; more than 8 days ago, so it no longer counts: no kind outside" in str(refused.value)
    out = _shuangsui("partners", "status").stdout
    assert "; more than 8 days ago, so it no longer counts" in out, out
    said = kinds.summary(read_state(engine), dt.datetime.now(dt.UTC))["said"]
    assert "; more than 8 days ago, so it no longer counts" in said
    page = kinds.described_zh(read_state(engine), "Asia/Shanghai", dt.datetime.now(dt.UTC))
    assert "；已超过 8 天，不再作数：同步取得新的声明之前" in page, page
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_STATEMENT_MAX_AGE", "PT36H")
    assert "；已超过 36 小时，不再作数" in kinds.described_zh(
        read_state(engine), "Asia/Shanghai", dt.datetime.now(dt.UTC)
    )

    # outside 1 hour to 30 days, or no duration: refused before anything is done
    for value, read in (("P31D", "'P31D' (31 days) is outside 1 hour to 30 days"),
                        ("1800", "'1800' (30 minutes) is outside 1 hour to 30 days"),
                        ("a week", "'a week' is not a duration: write seconds (172800) or "
                         "ISO 8601 such as PT48H or P8D")):  # fmt: skip
        monkeypatch.setenv("SHUANGSUI_EXCHANGE_STATEMENT_MAX_AGE", value)
        for args in (("partners", "status"), ("serve", "--port", str(free_port()))):
            proc = _shuangsui(*args)
            assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
            assert f"settings: SHUANGSUI_EXCHANGE_STATEMENT_MAX_AGE: {read}" in proc.stderr, (
                args, proc.stderr)  # fmt: skip
            assert "Traceback" not in proc.stderr
        with pytest.raises(ValidationError, match=re.escape(read)):
            kinds.max_age()
    assert [e.kind for e in _ours(engine)] == [NEW]  # the refused append wrote nothing


def read_state(engine: sa.Engine) -> dict[str, object]:
    with Session(engine) as s:
        state = s.get(PartnerState, "310000")
        assert state is not None and state.about is not None
        return state.about


def _ours(engine: sa.Engine) -> list[ExchangeEntry]:
    with Session(engine) as s:
        return list(s.exec(select(ExchangeEntry).order_by(col(ExchangeEntry.seq))).all())
