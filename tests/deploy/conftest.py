"""A real Prefect server for the deployment tests: ``prefect server start`` on a free port with
its own PREFECT_HOME, the work pool created and ``prefect.yaml`` deployed from the repository."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import httpx
import pytest

from tests.deploy.procs import REPO_ROOT, Proc, clean_env, run, start, wait_for
from tests.servers import free_port

SERVER_START_TIMEOUT = 240  # a fresh server migrates its database: 10 s idle, ~45 s under load
CLI_TIMEOUT = 180
RUN_TIMEOUT = 180  # worker pickup + a flow-run process (~20 s here under load) + the round
# The deployments the tests run (monthly: its schedule's runs are read, none is run). Every
# other one is paused once deployed, its automations too: a worker takes every run of its pool
# that comes due, whatever its deployment, and the outbox's (every 5 minutes, and one more
# triggered by each draw), sync-partners' (hourly) and the others' ran in whichever test's
# worker was up, on that test's database, beside the run it waited for; a draw's triggered
# outbox run was taken by the next test's worker. The monthly runs come due on the 1st at
# 02:00 Beijing time: in no session but one spanning that hour.
TESTED = ("monthly-round/monthly", "adhoc-round/adhoc", "draw-round/ceremony")
RUN_BY_TESTS = ("adhoc-round/adhoc", "draw-round/ceremony")


@dataclass
class PrefectServer:
    api_url: str
    proc: Proc
    client_home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a client process (CLI, worker) of this server."""
        return clean_env(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.client_home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            **extra,
        )

    def cli(self, *args: str, cwd: Path = REPO_ROOT, **extra: str) -> CompletedProcess[str]:
        return run(["prefect", *args], env=self.env(**extra), cwd=cwd, timeout=CLI_TIMEOUT)

    def check_cli(self, *args: str, **extra: str) -> str:
        proc = self.cli(*args, **extra)
        assert proc.returncode == 0, (
            f"prefect {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n"
            + self.proc.output()
        )
        return proc.stdout

    @contextmanager
    def client(self) -> Iterator[Any]:
        """A synchronous Prefect client of this server, in the test process."""
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings(updates={PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client

    def run_deployment(self, name: str, **params: str) -> uuid.UUID:
        """``prefect deployment run NAME --param k=v ...``; the new flow run's id."""
        args = ["deployment", "run", name]
        for key, value in params.items():
            args += ["--param", f"{key}={value}"]
        out = self.check_cli(*args)
        found = re.search(r"UUID: ([0-9a-f-]{36})", out)
        assert found, f"no flow run id in the output of prefect {' '.join(args)}:\n{out}"
        return uuid.UUID(found.group(1))

    def wait_final(self, flow_run_id: uuid.UUID, timeout: float, details: Any) -> Any:
        """Poll the flow run until its state is final (Completed, Failed, Crashed, Cancelled)."""
        with self.client() as client:

            def final() -> Any:
                run_ = client.read_flow_run(flow_run_id)
                return run_ if run_.state is not None and run_.state.is_final() else None

            return wait_for(
                final, timeout, f"flow run {flow_run_id} to finish", poll=1.0, details=details
            )


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=5).json() is True
    except (httpx.HTTPError, ValueError):
        return False


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """``prefect server start`` (with its scheduler) on a free port, stopped at the end."""
    root = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = clean_env(
        PREFECT_HOME=str(root / "server-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    proc = start(
        "prefect server",
        ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=root,
        log=root / "server.log",
    )
    try:
        api_url = f"http://127.0.0.1:{port}/api"
        wait_for(lambda: _healthy(api_url), SERVER_START_TIMEOUT, f"{api_url}/health",
                 poll=1.0, details=proc.output, alive=proc)  # fmt: skip
        yield PrefectServer(api_url, proc, root / "client-home")
    finally:
        proc.stop()


@dataclass
class Deployed:
    server: PrefectServer
    pool: str
    deployments: dict[str, Any]  # "flow/deployment" -> the server's deployment record


@pytest.fixture(scope="session")
def deployed(prefect_server: PrefectServer) -> Deployed:
    """The work pool, and every deployment of prefect.yaml deployed from the repository root;
    those no test runs paused, with their automations (see ``TESTED``)."""
    prefect_server.check_cli("work-pool", "create", "shuangsui", "--type", "process")
    prefect_server.check_cli("--no-prompt", "deploy", "--all", SHUANGSUI_REPO_DIR=str(REPO_ROOT))
    with prefect_server.client() as client:
        deployments = {name: client.read_deployment_by_name(name) for name in TESTED}
        for record in client.read_deployments():
            name = f"{client.read_flow(record.flow_id).name}/{record.name}"
            if name not in TESTED:
                for automation in client.read_resource_related_automations(
                    f"prefect.deployment.{record.id}"
                ):
                    client.pause_automation(automation.id)
                client.pause_deployment(record.id)  # its scheduled runs deleted, no more made
    return Deployed(prefect_server, "shuangsui", deployments)


def _unfinished(client: Any, pool: str, *states: Any, deployment_ids: Any = None) -> list[Any]:
    """The pool's flow runs in one of ``states`` (of those deployments only, if given)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )

    return list(
        client.read_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
            deployment_filter=None
            if deployment_ids is None
            else DeploymentFilter(id=DeploymentFilterId(any_=list(deployment_ids))),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states)))
            ),
        )
    )


def _taken(proc: Proc) -> list[uuid.UUID]:
    """The flow runs the worker took, in order, as its log says."""
    text = proc.log.read_text(encoding="utf-8", errors="replace")
    return [uuid.UUID(m) for m in re.findall(r"submitting flow run '([0-9a-f-]{36})'", text)]


@contextmanager
def pool_worker(deployed: Deployed, tmp_path: Path, **env: str) -> Iterator[Proc]:
    """``prefect worker start --pool shuangsui`` with ``env`` (the test's database and plans),
    from a scratch folder, so the flow only finds the code through the deployment's pull step.

    On the way out it is stopped only once no run of the pool is pending or running: a run
    killed RUNNING keeps its deployment's one concurrency slot for its lease (300 s), and the
    next test's runs of that deployment stayed SCHEDULED. Then every run not final of the
    deployments the tests run is cancelled, so no later test's worker takes it onto its
    database. And the worker must have taken only runs of those deployments made while this
    test's worker was up: anything else was another test's, or no test's."""
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    server = deployed.server
    scratch = tmp_path / "worker-cwd"
    scratch.mkdir()
    env = {"SHUANGSUI_ENVIRONMENT": "test", "SHUANGSUI_REPO_DIR": str(REPO_ROOT),
           "PREFECT_WORKER_QUERY_SECONDS": "2", **env}  # fmt: skip
    since = dt.datetime.now(dt.UTC)
    proc = start("prefect worker", ["prefect", "worker", "start", "--pool", deployed.pool],
                 env=server.env(**env), cwd=scratch, log=tmp_path / "worker.log")  # fmt: skip
    run_by_tests = {deployed.deployments[name].id for name in RUN_BY_TESTS}

    def details() -> str:
        return proc.output() + "\n" + server.proc.output()

    passed = False
    try:
        yield proc
        passed = True
    finally:
        try:
            if passed:
                with server.client() as client:
                    busy = (StateType.PENDING, StateType.RUNNING, StateType.CANCELLING)
                    wait_for(lambda: not _unfinished(client, deployed.pool, *busy), RUN_TIMEOUT,
                             "every flow run the worker took to end", poll=1.0,
                             details=details)  # fmt: skip
        finally:
            proc.stop()
            left = (StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING,
                    StateType.PAUSED, StateType.CANCELLING)  # fmt: skip
            with server.client() as client:
                for run_ in _unfinished(client, deployed.pool, *left, deployment_ids=run_by_tests):
                    client.set_flow_run_state(run_.id, Cancelled(message="test teardown"),
                                              force=True)  # fmt: skip
    with server.client() as client:
        foreign = [
            (run_.id, run_.name, run_.created)
            for run_ in map(client.read_flow_run, _taken(proc))
            if run_.deployment_id not in run_by_tests or run_.created < since
        ]
    assert not foreign, f"the worker took another test's flow runs: {foreign}\n" + details()
