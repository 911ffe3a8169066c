"""A month's round held because the registry's import came late is committed that month.

The monthly deployment runs once, on the 1st at 02:00. When the registry's last import was
older than SHUANGSUI_REGISTRY_MAX_AGE_DAYS then, the round was held (not committed, the
coordinator told to "wait for the next scheduled run"), and nothing ran again that month: the
next scheduled run, a month later, commits the next month's plans only, so the import made at
09:00 was never drawn from and the month's round was lost unless someone thought of running
the flow by hand. Now a run from the deployment that holds a round leaves one run of the
deployment scheduled for the next whole hour, for the same month (however many runs hold it
in that hour: a retry, a second worker, a manual run); that run commits the round once the
import is done, and schedules no other."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.flow_engine import run_flow
from sqlmodel import Session, select

from flows.rounds import monthly_round
from registry.export import export_kind
from registry.importer import import_files
from registry.models import RegistryImport
from rounds.models import Round
from tests.flows.test_beacon_lead_flow import KEY, plans_dir  # noqa: F401  (a fixture)
from tests.rounds.factories import seed_registry

# the month's run: 2026-12-01 02:00 Beijing time
RUN_AT = dt.datetime(2026, 11, 30, 18, 0, 7, tzinfo=dt.UTC)


def _stale(engine: sa.Engine) -> None:
    with Session(engine) as s:
        for row in s.exec(select(RegistryImport)).all():
            row.at = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
            s.add(row)
        s.commit()


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_a_round_held_for_a_late_import_is_committed_by_the_run_scheduled_that_month(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rounds.entropy.now", lambda: RUN_AT)
    seed_registry(engine)
    _stale(engine)
    deployment_id = monthly_round.to_deployment(name=f"held-{uuid4().hex[:8]}").apply()
    with get_client(sync_client=True) as client:

        def scheduled() -> list:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            return [r for r in runs if r.state is not None and r.state.is_scheduled()]

        def run(made: object = None) -> list[dict]:
            made = made or client.create_flow_run_from_deployment(
                deployment_id, parameters={"period": "2026-12"}
            )
            return run_flow(monthly_round, flow_run=made, parameters={"period": "2026-12"})

        (held,) = run()
        assert held["status"] == "held" and "more than 35 days ago" in " ".join(held["reasons"])
        (later,) = scheduled()
        assert later.parameters == {"period": "2026-12"}
        assert later.expected_start_time == dt.datetime(2026, 11, 30, 19, 0, tzinfo=dt.UTC)
        assert "tried again at 2026-11-30T19:00:00+00:00" in held["retry"]

        # the run tried again (a retry, a second worker): still held, still one run scheduled
        (again,) = run()
        assert again["status"] == "held"
        assert [r.id for r in scheduled()] == [later.id]

        # the operator's import, late: the registry exported and imported again as it is
        out = tmp_path / "enterprises.csv"
        with Session(engine) as s:
            export_kind(session=s, kind="enterprises", out=out)
        with Session(engine) as s:
            import_files(session=s, files=[("enterprises", out)])
            s.commit()

        monkeypatch.setattr("rounds.entropy.now", lambda: later.expected_start_time)
        (committed,) = run(client.read_flow_run(later.id))
        assert committed["status"] == "committed" and committed["frame_size"] == 60
        assert "retry" not in committed
        assert scheduled() == []  # nothing held: no other run
    with Session(engine) as s:
        assert s.get(Round, KEY) is not None


@pytest.mark.usefixtures("prefect_harness", "plans_dir")
def test_no_run_is_scheduled_past_the_month(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held in the month's last hour: no run of the next month is made for it; the coordinator
    is told to commit it by hand."""
    monkeypatch.setattr(
        "rounds.entropy.now", lambda: dt.datetime(2026, 12, 31, 15, 30, tzinfo=dt.UTC)
    )
    seed_registry(engine)
    _stale(engine)
    deployment_id = monthly_round.to_deployment(name=f"held-{uuid4().hex[:8]}").apply()
    with get_client(sync_client=True) as client:
        made = client.create_flow_run_from_deployment(
            deployment_id, parameters={"period": "2026-12"}
        )
        (held,) = run_flow(monthly_round, flow_run=made, parameters={"period": "2026-12"})
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    assert held["status"] == "held"
    assert "month 2026-12 ends before another run" in held["retry"]
    assert "shuangsui round commit" in held["retry"]
    assert [r for r in runs if r.state is not None and r.state.is_scheduled()] == []
