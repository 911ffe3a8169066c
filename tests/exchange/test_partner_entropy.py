"""Partner checkpoints as entropy: no new round commits to them (the bureau drawing could choose
among the checkpoints by choosing when to draw); a round committed to them before waits until a
partner has signed a newer checkpoint, then draws, and the bundle's stdlib verify.py checks the
partner's Ed25519 signature."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from exchange.entries import iso
from exchange.entropy import gather
from exchange.keys import load_or_create
from rounds import bundle, entropy, service
from rounds.models import AuditEvent, Round, RoundStatus
from shuangsui import config
from shuangsui.errors import EntropyUnavailable, UserError
from tests.exchange.bureaus import free_port, make_bureau, publish, served
from tests.exchange.bureaus import write_directory as write_dir
from tests.rounds.factories import plan_yaml, seed_registry
from website import explain


def test_no_new_round_commits_to_partner_checkpoints(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUANGSUI_ENTROPY_SOURCES", "witness-digits,partner-checkpoints")
    config.get_settings.cache_clear()
    seed_registry(engine)
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = "http://127.0.0.1:9"
    write_dir(tmp_path / "home" / "partners.toml", [sh])
    with pytest.raises(UserError, match="partner-checkpoints.*choose among them") as refused:
        service.commit_round(engine=engine, plan_text=plan_yaml())
    assert "witness-digits or beacon" in str(refused.value)
    with Session(engine) as session:
        assert session.exec(select(Round)).all() == []
        assert session.exec(select(AuditEvent)).all() == []


def test_round_committed_to_partner_checkpoints_before_still_draws_and_verifies(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUANGSUI_ENTROPY_SOURCES", "partner-checkpoints")
    config.get_settings.cache_clear()
    # what an earlier shuangsui named at commitment: every directory partner, after the moment
    named = entropy.EntropySource(
        plan=lambda settings, at: {"source": "partner-checkpoints", "partners": ["310000"],
                                   "after": iso(at)},
        gather=gather,
    )  # fmt: skip
    monkeypatch.setitem(entropy.entropy_sources, "partner-checkpoints", named)
    seed_registry(engine)
    sh = make_bureau(tmp_path, "310000")
    port = free_port()
    sh.base_url = f"http://127.0.0.1:{port}"
    fj = make_bureau(tmp_path / "fj-view", "350000")
    fj.key, fj.base_url = load_or_create(), "http://127.0.0.1:9"
    write_dir(sh.home / "partners.toml", [fj])
    publish(sh, "91310000MA0000001Y", n=0)
    write_dir(tmp_path / "home" / "partners.toml", [sh])  # its address: nobody listens yet
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    assert rnd.entropy_plan["sources"][0]["partners"] == ["310000"]
    with pytest.raises(EntropyUnavailable, match="310000"):
        service.draw_round(engine=engine, round_key=rnd.round_key)  # the partner is down
    time.sleep(1.1)  # checkpoint times are in seconds: the next one is strictly later
    publish(sh, "91310000MA0000002Y", n=1)  # Shanghai's log grows: a new checkpoint
    with served(sh, port=port):
        drawn = service.draw_round(engine=engine, round_key=rnd.round_key)
    assert drawn.status is RoundStatus.drawn
    (record,) = drawn.entropy or []
    assert record["source"] == "partner-checkpoints"
    assert record["checkpoints"][0]["partner"] == "310000"
    out = bundle.bundle_round(engine, rnd.round_key, tmp_path / "bundle")
    proc = bundle.run_verify_script(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_public_page_says_such_a_draw_could_be_steered() -> None:
    record = {"source": "partner-checkpoints", "after": "2026-12-01T00:00:00Z",
              "checkpoints": [{"partner": "310000"}]}  # fmt: skip
    ((source, said),) = explain.entropy_rows([record])
    assert source == "合作单位的日志检查点"
    assert "310000" in said and "借选择抽取时刻在其中挑选" in said
