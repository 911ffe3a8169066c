"""The real distributed path: ``prefect server start``, the work pool, ``prefect deploy --all``
from the repository, a process worker, and flow runs created with ``prefect deployment run``
that commit and then draw a round in the test's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from sqlmodel import Session, col, func, select

from flows.rounds import adhoc_round_key
from rounds.models import Assignment, AuditEvent, Round, RoundKind, RoundStatus, Selection
from tests.deploy.conftest import RUN_TIMEOUT, Deployed, pool_worker
from tests.deploy.procs import Proc, wait_for
from tests.rounds.factories import plan_yaml, seed_registry

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect-server")]

DIGITS = "27182818284590452353602874"
SHANGHAI = ZoneInfo("Asia/Shanghai")
ADHOC = "adhoc-round/adhoc"
MONTHLY = "monthly-round/monthly"


@dataclass
class Worker:
    deployed: Deployed
    proc: Proc

    def details(self) -> str:
        return self.proc.output() + "\n" + self.deployed.server.proc.output()

    def run_to_completion(self, **params: str) -> uuid.UUID:
        server = self.deployed.server
        run_id = server.run_deployment(ADHOC, **params)
        run_ = server.wait_final(run_id, RUN_TIMEOUT, self.details)
        assert run_.state.is_completed(), (
            f"flow run {run_id} ended {run_.state.type.value}: {run_.state.message}\n"
            + self.details()
        )
        return run_id


@pytest.fixture
def worker(deployed: Deployed, db_url: str, tmp_path: Path) -> Iterator[Worker]:
    """A process worker (``pool_worker``) on this test's database and plans."""
    plans = tmp_path / "worker-plans"
    plans.mkdir()
    (plans / "ccc-2026-12.yaml").write_text(plan_yaml(), encoding="utf-8")
    with pool_worker(deployed, tmp_path, SHUANGSUI_DATABASE_URL=db_url,
                     SHUANGSUI_PLANS_DIR=str(plans),
                     SHUANGSUI_HOME=str(tmp_path / "worker-home")) as proc:  # fmt: skip
        yield Worker(deployed, proc)


def _count(session: Session, model: type, *where: object) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_adhoc_round_commits_then_draws_through_the_worker(
    worker: Worker, engine: sa.Engine
) -> None:
    seed_registry(engine)
    reason, requested_by = "投诉举报集中", "林科长"

    first = worker.run_to_completion(plan="ccc-2026-12", reason=reason, requested_by=requested_by)
    key = adhoc_round_key("ccc-2026-12", f"{first}|ccc-2026-12|{reason}|{requested_by}")
    with Session(engine) as s:
        rounds = s.exec(select(Round)).all()
        assert [(r.round_key, r.kind, r.status) for r in rounds] == [
            (key, RoundKind.adhoc, RoundStatus.committed)
        ], "the first run should commit exactly one ad hoc round, keyed by its flow run"
        assert (rounds[0].reason, rounds[0].requested_by) == (reason, requested_by)
        assert rounds[0].seed is None and _count(s, Selection) == 0

    # Quoted: unquoted, the CLI reads 26 digits as a JSON number and the schema refuses it.
    worker.run_to_completion(
        plan="ccc-2026-12",
        reason=reason,
        requested_by=requested_by,
        round_id=key,
        witness_digits=json.dumps(DIGITS),
        witnesses=json.dumps(["王五"], ensure_ascii=False),
    )
    with Session(engine) as s:
        rnd = s.get(Round, key)
        assert rnd is not None and rnd.status is RoundStatus.drawn and rnd.seed
        witnessed = {"source": "witness-digits", "digits": DIGITS, "witnesses": ["王五"]}
        assert rnd.entropy == [witnessed]
        selected = _count(s, Selection, col(Selection.round_key) == key)
        assert selected > 0
        assert _count(s, Assignment, col(Assignment.round_key) == key) == 2 * selected
        events = s.exec(select(AuditEvent.event).order_by(col(AuditEvent.seq))).all()
    assert events.count("RoundCommitted") == 1 and events.count("DrawMade") == 1, events


def test_parameter_schema_rejects_a_run_at_creation(deployed: Deployed) -> None:
    """``enforce_parameter_schema``: no flow run is created without the audited reason, nor
    with witness digits that are not a string."""
    server = deployed.server
    adhoc = deployed.deployments[ADHOC]
    assert adhoc.enforce_parameter_schema

    def runs() -> int:
        with server.client() as client:
            return client.count_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[adhoc.id]))
            )

    before = runs()
    no_reason = server.cli(
        "deployment", "run", ADHOC, "--param", "plan=ccc-2026-12", "--param", "requested_by=林科长"
    )
    assert no_reason.returncode != 0, no_reason.stdout
    assert "'reason' is a required property" in no_reason.stdout, no_reason.stdout

    unquoted = server.cli(
        "deployment", "run", ADHOC, "--param", "plan=ccc-2026-12", "--param", "reason=复查",
        "--param", "requested_by=林科长", "--param", "round_id=x", "--param",
        f"witness_digits={DIGITS}",
    )  # fmt: skip
    assert unquoted.returncode != 0, unquoted.stdout
    assert "witness_digits" in unquoted.stdout, unquoted.stdout
    assert runs() == before, "a rejected run must not be created"


def _next_first_of_month_0200(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(SHANGHAI)
    candidate = local.replace(day=1, hour=2, minute=0, second=0, microsecond=0)
    if candidate <= local:
        year, month = divmod(local.year * 12 + local.month, 12)  # next month, 1-based
        candidate = candidate.replace(year=year, month=month + 1)
    return candidate


def test_monthly_runs_are_scheduled_on_the_first_at_two_in_shanghai(deployed: Deployed) -> None:
    """The server's scheduler turns the cron into flow runs: 02:00 Asia/Shanghai on the 1st,
    i.e. 18:00 UTC on the last day of the month before."""
    server = deployed.server
    monthly = deployed.deployments[MONTHLY]
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in monthly.schedules] == [
        ("0 2 1 * *", "Asia/Shanghai", True)
    ]
    now = dt.datetime.now(dt.UTC)

    def scheduled() -> list[dt.datetime] | None:
        with server.client() as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[monthly.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            )
        times = [r.expected_start_time for r in runs if r.expected_start_time]
        return times if len(times) >= 3 else None  # the scheduler makes at least 3

    times = wait_for(scheduled, 120, "the scheduler to create the monthly runs", poll=2.0,
                     details=server.proc.output)  # fmt: skip
    expected = _next_first_of_month_0200(now)
    for t in times:
        local, utc = t.astimezone(SHANGHAI), t.astimezone(dt.UTC)
        assert (local.day, local.hour, local.minute, local.second) == (1, 2, 0, 0), t
        assert utc.hour == 18 and utc.minute == 0 and (utc + dt.timedelta(days=1)).day == 1, t
    assert times[0] == expected, f"next run {times[0]}, expected {expected}"
    months = [(t.astimezone(SHANGHAI).year, t.astimezone(SHANGHAI).month) for t in times]
    assert len(set(months)) == len(months), f"two runs in one month: {times}"
