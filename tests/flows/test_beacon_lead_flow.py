"""The monthly flow with a beacon round named a lead after the commitment.

The flow committed and drew at once: the round named was the next (seconds away), and a
beacon not out yet was retried for 100 seconds and then failed the run, while the public site,
published daily, first showed the commitment hours after the value existed. Now the flow
commits, puts the commitments on the public site at once, finds the beacon round not due and
ends with the round committed and waiting (nothing drawn, nothing asked of the beacon); a run
after the round's time draws it, once, and the round page says the commitment was public
before the random number."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.flow_engine import run_flow
from sqlmodel import Session, select

from flows.rounds import adhoc_round, monthly_round
from rounds.models import AuditEvent, Selection
from shuangsui import config
from tests.rounds.beacon_clock import Drand, drand  # noqa: F401  (a fixture)
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish

KEY = "ccc-2026-12"
CLAIM = "在产生随机数之前，本局公布了本轮的"
CAVEAT = "不能证明承诺早于随机数公开"


@pytest.fixture
def plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "plans"
    d.mkdir()
    (d / f"{KEY}.yaml").write_text(plan_yaml(), encoding="utf-8")
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(d))
    config.get_settings.cache_clear()
    return d


def _decided(engine: sa.Engine) -> tuple[int, int]:
    with Session(engine) as s:
        selections = len(s.exec(select(Selection)).all())
        made = s.exec(select(AuditEvent).where(AuditEvent.event == "DrawMade")).all()
        return selections, len(made)


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_the_monthly_flow_publishes_the_commitment_waits_for_the_beacon_then_draws_once(
    engine: sa.Engine,
    drand: Drand,  # noqa: F811
) -> None:
    seed_registry(engine)
    site = Path(config.get_settings().home).resolve() / "site"

    (first,) = monthly_round(period="2026-12")
    (spec,) = first["entropy_plan"]["sources"]
    due = dt.datetime.fromisoformat(spec["expected_at"])
    assert due >= drand.clock + dt.timedelta(minutes=15)
    assert first["status"] == "committed" and first["resume_at"] == spec["expected_at"]
    assert f"waiting for beacon round {spec['round']}" in first["waiting"]
    assert _decided(engine) == (0, 0) and drand.asked == []
    # on the public site before the beacon round's time, and said so
    commitment = (site / "rounds" / KEY / "commitment.html").read_text("utf-8")
    assert CAVEAT not in commitment
    assert CLAIM in (site / "rounds" / KEY / "index.html").read_text("utf-8")

    drand.clock = due - dt.timedelta(seconds=1)  # run again too early: still waiting
    (early,) = monthly_round(period="2026-12")
    assert early["status"] == "committed" and early["resume_at"] == spec["expected_at"]
    assert _decided(engine) == (0, 0) and drand.asked == []

    drand.clock = due + dt.timedelta(seconds=1)
    (second,) = monthly_round(period="2026-12")
    assert second["status"] == "drawn" and "waiting" not in second
    assert second["frame_commitment"] == first["frame_commitment"]
    assert [r["round"] for r in second["entropy"]] == [spec["round"]]
    drawn = _decided(engine)
    assert drawn[0] > 0 and drawn[1] == 1
    bundle = Path(second["bundle"])
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(bundle / "verify.py"), str(bundle)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr

    drand.clock = due + dt.timedelta(hours=1)
    (third,) = monthly_round(period="2026-12")
    assert third["seed"] == second["seed"] and _decided(engine) == drawn

    # the drawn round's page keeps saying its commitment came before the random number
    publish(engine, site)
    page = (site / "rounds" / KEY / "index.html").read_text("utf-8")
    assert CLAIM in page and CAVEAT not in page


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_a_deployments_run_that_finds_the_beacon_not_due_schedules_one_run_for_its_time(
    engine: sa.Engine,
    drand: Drand,  # noqa: F811
) -> None:
    """Run from a deployment, the flow ends waiting and leaves a run of that deployment
    scheduled at the beacon round's time, with the month it drew; a second early run
    schedules no other."""
    seed_registry(engine)
    deployment_id = monthly_round.to_deployment(name=f"beacon-{uuid4().hex[:8]}").apply()
    with get_client(sync_client=True) as client:

        def run() -> list[dict]:
            made = client.create_flow_run_from_deployment(
                deployment_id, parameters={"period": "2026-12"}
            )
            return run_flow(monthly_round, flow_run=made, parameters={"period": "2026-12"})

        def scheduled() -> list:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            return [r for r in runs if r.state is not None and r.state.is_scheduled()]

        (first,) = run()
        assert first["status"] == "committed" and first["resume_at"]
        (later,) = scheduled()
        assert later.expected_start_time == dt.datetime.fromisoformat(first["resume_at"])
        assert later.parameters == {"period": "2026-12"}

        (again,) = run()
        assert again["resume_at"] == first["resume_at"]
        assert [r.id for r in scheduled()] == [later.id]


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_an_adhoc_round_waits_for_its_beacon_and_the_run_after_draws_it_as_committed(
    engine: sa.Engine,
    drand: Drand,  # noqa: F811
) -> None:
    """The ad hoc flow, committed with raised rates: it publishes the commitment and waits;
    the run its deployment schedules (the round's key, plan, reason and requester, nothing
    else) draws it as committed."""
    seed_registry(engine)
    site = Path(config.get_settings().home).resolve() / "site"
    ask = {"plan": KEY, "reason": "投诉举报集中", "requested_by": "林科长"}
    first = adhoc_round(**ask, rates={"D": "100%"})
    key = first["round_key"]
    (spec,) = first["entropy_plan"]["sources"]
    assert first["status"] == "committed" and first["resume_at"] == spec["expected_at"]
    assert CLAIM in (site / "rounds" / key / "index.html").read_text("utf-8")
    assert _decided(engine) == (0, 0) and drand.asked == []

    drand.clock = dt.datetime.fromisoformat(spec["expected_at"])
    drawn = adhoc_round(**ask, round_id=key)
    assert drawn["status"] == "drawn" and drawn["round_key"] == key
    assert drawn["plan_hash"] == first["plan_hash"] and _decided(engine)[1] == 1
