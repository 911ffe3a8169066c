"""A held round is tried again only when a registry import can clear its hold, and the
coordinator's round_held message says when that is.

A run of the monthly deployment that held a round scheduled the next whole hour's run for the
month whatever the reasons: a plan whose population is empty (a plan fault the coordinator must
fix) was tried every hour to the month's end, each run holding it again. And the message told the
coordinator to "等待下一次定时运行" without saying when that is, though the flow knew: the retry's
hour, or that the month ends first, or that no deployment runs it again. Now the hold's reasons
carry their kind (``rounds.holds``: a registry hold or the plan's); only a registry hold is tried
again, and the message says when, in the bureau's time, once per round and reasons and what
follows (not once an hour)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.flow_engine import run_flow
from sqlmodel import Session, select

from flows.rounds import adhoc_round, monthly_round
from notifications.models import Notification, NotificationKind
from shuangsui.errors import CommitHeld
from tests.flows.test_beacon_lead_flow import (
    KEY,
    plans_dir,  # noqa: F401  (a fixture)
)
from tests.flows.test_held_round_retried import RUN_AT, _stale
from tests.rounds.factories import seed_registry

BY_HAND = "shuangsui round commit"


def _messages(engine: sa.Engine) -> list[str]:
    with Session(engine) as s:
        kind = NotificationKind.round_held
        rows = s.exec(select(Notification).where(Notification.kind == kind)).all()
        return [row.body for row in sorted(rows, key=lambda r: r.created_at)]


def _deployment_runs(
    client: SyncPrefectClient,
) -> tuple[Callable[..., list[dict[str, Any]]], Callable[[], list]]:
    """Run monthly-round for 2026-12 as a run of a new deployment (or as ``made``, a run of it
    already scheduled); and list its runs scheduled."""
    deployment_id = monthly_round.to_deployment(name=f"held-{uuid4().hex[:8]}").apply()

    def run(made: object = None) -> list[dict[str, Any]]:
        made = made or client.create_flow_run_from_deployment(
            deployment_id, parameters={"period": "2026-12"}
        )
        return run_flow(monthly_round, flow_run=made, parameters={"period": "2026-12"})

    def scheduled() -> list:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
        )  # fmt: skip

    return run, scheduled


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_a_stale_registry_is_tried_hourly_and_the_coordinator_told_when_once(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rounds.entropy.now", lambda: RUN_AT)  # 2026-12-01 02:00 北京时间
    seed_registry(engine)
    _stale(engine)
    with get_client(sync_client=True) as client:
        run, scheduled = _deployment_runs(client)
        (held,) = run()
        (later,) = scheduled()
        (again,) = run()  # a retry of the same hour, a second worker
        assert later.expected_start_time == RUN_AT.replace(hour=19, second=0)
        monkeypatch.setattr("rounds.entropy.now", lambda: RUN_AT.replace(hour=19, second=0))
        (third,) = run(client.read_flow_run(later.id))  # 03:00: still not imported
        assert [held["status"], again["status"], third["status"]] == ["held"] * 3
        assert len(scheduled()) == 1  # 04:00's
    (told,) = _messages(engine)  # three runs held it for the same reasons: told once
    assert "2026-12-01 03:00 北京时间" in told and "每小时" in told
    assert "等待下一次定时运行" not in told
    assert BY_HAND in told and "--accept" in told


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_a_plan_fault_is_not_tried_again_and_the_coordinator_is_told_so(
    engine: sa.Engine,
) -> None:
    """The registry imported just now, but none of its enterprises in the plan's divisions
    (350000: they are all in 36): a new import does not clear that, the coordinator does (the
    plan, or --accept)."""
    seed_registry(engine, province="36")
    with get_client(sync_client=True) as client:
        run, scheduled = _deployment_runs(client)
        (held,) = run()
        assert held["status"] == "held" and "population is empty" in held["reasons"][0]
        assert scheduled() == []
        assert "no run is scheduled" in held["retry"] and BY_HAND in held["retry"]
        run()
        assert scheduled() == []
    (told,) = _messages(engine)
    assert "不会自动重试" in told and BY_HAND in told and "--accept" in told


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_the_coordinator_is_told_when_the_month_ends_first_or_no_deployment_runs_it(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    _stale(engine)
    (held,) = monthly_round(period="2026-12")  # by hand, not from a deployment
    assert held["status"] == "held"
    (told,) = _messages(engine)
    assert "不是由定时部署运行" in told and BY_HAND in told
    # the month's last half hour, from the deployment: the month ends before another run
    last = dt.datetime(2026, 12, 31, 15, 30, tzinfo=dt.UTC)
    monkeypatch.setattr("rounds.entropy.now", lambda: last)
    with get_client(sync_client=True) as client:
        run, scheduled = _deployment_runs(client)
        run()
        run()
        assert scheduled() == []
    first, ended = _messages(engine)  # told once more: nothing will try it now
    assert first == told
    assert "本月（2026-12）在下一次整点运行之前结束" in ended and BY_HAND in ended


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_an_ad_hoc_round_held_is_said_not_to_be_tried_again(engine: sa.Engine) -> None:
    seed_registry(engine)
    _stale(engine)
    with pytest.raises(CommitHeld) as held:
        adhoc_round(plan=f"{KEY}.yaml", reason="投诉举报", requested_by="张三")
    assert held.value.kinds == ["registry"]
    (told,) = _messages(engine)
    assert "临时抽查批次不会自动重试" in told and "每小时" not in told and BY_HAND in told
