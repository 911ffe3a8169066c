"""The sync-partners flow against a partner served over real HTTP on loopback: entries applied
once; with the partner gone, the flow completes, reports why, and applies nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from exchange.keys import load_or_create
from exchange.models import PartnerEntry, PartnerState
from flows.sync_partners import sync_partners
from tests.exchange.bureaus import make_bureau, publish, served
from tests.exchange.bureaus import write_directory as write_dir

CODES = [f"91310000MA{i:07d}Y" for i in range(4)]


@pytest.mark.usefixtures("prefect_harness")
def test_sync_partners_flow_pulls_then_survives_a_dead_partner(
    engine: sa.Engine, tmp_path: Path
) -> None:
    sh = make_bureau(tmp_path, "310000")
    fj = make_bureau(tmp_path / "fj-view", "350000")
    fj.key, fj.base_url = load_or_create(), "http://127.0.0.1:9"
    write_dir(sh.home / "partners.toml", [fj])
    for i, code in enumerate(CODES[:3]):
        publish(sh, code, n=i)
    with served(sh) as url:
        sh.base_url = url
        write_dir(tmp_path / "home" / "partners.toml", [sh])
        (outcome,) = sync_partners()
        assert (outcome["partner"], outcome["status"], outcome["applied"]) == ("310000", "ok", 3)

    publish(sh, CODES[3], n=3)  # the partner grows, but it is down now
    (down,) = sync_partners()
    assert down["status"] == "failed" and down["applied"] == 0
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(PartnerEntry)).one() == 3
        state = s.get(PartnerState, "310000")
        assert state is not None and state.size == 3 and state.last_error
