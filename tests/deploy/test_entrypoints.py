"""Every deployment's entrypoint in prefect.yaml loads the flow a worker would run, in a fresh
interpreter from the repository root (no server needed; the slow tests run the real thing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.procs import BIN, REPO_ROOT, clean_env, run

LOAD = """
import json, sys
from prefect.flows import load_flow_from_entrypoint
# no placeholder: by default a flow file that fails to import is parsed instead, and passes
flows = {e: load_flow_from_entrypoint(e, use_placeholder_flow=False).name for e in sys.argv[1:]}
print(json.dumps(flows))
"""


def _deployments() -> list[dict[str, Any]]:
    return yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]


def test_entrypoints_load_the_named_flows_in_a_fresh_interpreter(tmp_path: Path) -> None:
    expected = {
        "monthly": "monthly-round",
        "adhoc": "adhoc-round",
        "ceremony": "draw-round",
        "outbox": "dispatch-notifications",
        "daily": "follow-up-findings",
        "site": "publish-results",
        "partners": "sync-partners",
    }
    deployments = {d["name"]: d["entrypoint"] for d in _deployments()}
    assert set(deployments) == set(expected)
    home = tmp_path / "prefect-home"
    home.mkdir()
    proc = run(
        [str(BIN / "python"), "-c", LOAD, *deployments.values()],
        env=clean_env(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false"),
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {name: loaded[e] for name, e in deployments.items()} == expected


@pytest.mark.parametrize(
    "name", ["monthly", "adhoc", "ceremony", "outbox", "daily", "site", "partners"]
)
def test_deployments_enforce_their_parameter_schema(name: str) -> None:
    (deployment,) = [d for d in _deployments() if d["name"] == name]
    assert deployment["enforce_parameter_schema"] is True
    assert deployment["work_pool"]["name"] == "shuangsui"
