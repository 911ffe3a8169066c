"""An unattended round whose entropy is the partners' checkpoints signed after its commitment:
it waits until a partner has signed a newer checkpoint, then draws, and the bundle's stdlib
verify.py checks the partner's Ed25519 signature."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from exchange.keys import load_or_create
from rounds import bundle, service
from rounds.models import RoundStatus
from shuangsui import config
from shuangsui.errors import EntropyUnavailable
from tests.exchange.bureaus import free_port, make_bureau, publish, served
from tests.exchange.bureaus import write_directory as write_dir
from tests.rounds.factories import plan_yaml, seed_registry


def test_round_drawn_from_partner_checkpoints_verifies_offline(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUANGSUI_ENTROPY_SOURCES", "partner-checkpoints")
    config.get_settings.cache_clear()
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
