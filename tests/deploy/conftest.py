"""A real Prefect server for the deployment tests: ``prefect server start`` on a free port with
its own PREFECT_HOME, the work pool created and ``prefect.yaml`` deployed from the repository."""

from __future__ import annotations

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
    """The work pool, and every deployment of prefect.yaml deployed from the repository root."""
    prefect_server.check_cli("work-pool", "create", "shuangsui", "--type", "process")
    prefect_server.check_cli("--no-prompt", "deploy", "--all", SHUANGSUI_REPO_DIR=str(REPO_ROOT))
    names = ("monthly-round/monthly", "adhoc-round/adhoc")
    with prefect_server.client() as client:
        deployments = {name: client.read_deployment_by_name(name) for name in names}
    return Deployed(prefect_server, "shuangsui", deployments)
