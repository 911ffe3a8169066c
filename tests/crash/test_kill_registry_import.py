"""A registry import killed (SIGKILL) mid-file, or with every row written and nothing yet
committed, leaves the registry as it was, its freshness too (no import recorded), and holds
nothing: the same import run again at once goes through and records its rows once.

The kill comes from the test hook ``SHUANGSUI_TEST_KILL_AT`` (``shuangsui.files.kill_point``)
in a real ``shuangsui registry import`` process."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.importer import CHUNK_ROWS
from tests.deploy.procs import REPO_ROOT, clean_env
from tests.registry.helpers import dump, enterprise_row, enterprises_file

pytestmark = pytest.mark.slow

OLD, NEW = 200, 2 * CHUNK_ROWS + 500  # the month's file: every old row changed, and new ones


def _import(
    db_url: str, tmp_path: Path, path: Path, kill_at: str = ""
) -> subprocess.CompletedProcess[str]:
    env = clean_env(SHUANGSUI_DATABASE_URL=db_url, SHUANGSUI_HOME=str(tmp_path / "home"),
                    SHUANGSUI_ENVIRONMENT="test")  # fmt: skip
    if kill_at:
        env["SHUANGSUI_TEST_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "shuangsui", "registry", "import", "enterprises", str(path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _imports(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT batch_id FROM registry_import")).scalars())


@pytest.mark.parametrize("kill_at", [f"enterprises:{CHUNK_ROWS}", "before-commit"])
def test_a_killed_import_changes_nothing_and_runs_again(
    engine: sa.Engine, db_url: str, tmp_path: Path, kill_at: str
) -> None:
    first = enterprises_file(tmp_path / "first.csv", [enterprise_row(n) for n in range(OLD)])
    done = _import(db_url, tmp_path, first)
    assert done.returncode == 0, done.stderr
    before, imports = dump(engine), _imports(engine)
    month = [enterprise_row(n, name=f"福州市鼓楼区更名{n}有限公司") for n in range(OLD)]
    month += [enterprise_row(n) for n in range(OLD, OLD + NEW)]
    monthly = enterprises_file(tmp_path / "month.csv", month)

    killed = _import(db_url, tmp_path, monthly, kill_at=f"registry-import:{kill_at}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert dump(engine) == before  # not a row, not a change recorded
    assert _imports(engine) == imports  # the registry is no fresher for it

    again = _import(db_url, tmp_path, monthly)
    assert again.returncode == 0, again.stderr
    assert f"{OLD + NEW} rows, {NEW} inserted, {OLD} updated, 0 unchanged" in again.stdout
    after = dump(engine)
    assert len(after["enterprise"]) == OLD + NEW
    assert len(after["registry_change"]) == len(before["registry_change"]) + OLD + NEW
    assert len(_imports(engine)) == len(imports) + 1
