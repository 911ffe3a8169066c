"""``SHUANGSUI_HOME`` naming a file (or a path through one) is refused as the settings are read,
naming the variable: with the database elsewhere (PostgreSQL, or a SQLite URL), ``shuangsui
serve`` started and served with its data directory a file, each upload, key and outbox write
to fail at a request; on SQLite every command said ``unable to open database file`` and
``partners keygen`` ``…/keys: Not a directory``, neither naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.procs import shuangsui
from tests.servers import free_port

_run = shuangsui  # the command as a user types it (tests.deploy.procs)


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "shuangsui-home"
    path.write_text("not a folder\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("under", [False, True])
@pytest.mark.parametrize(
    "args", [("serve", "--port", "0"), ("partners", "keygen"), ("round", "list")]
)
def test_a_home_that_is_a_file_is_refused_naming_the_variable(
    tmp_path: Path, a_file: Path, db_url: str, args: tuple[str, ...], under: bool
) -> None:
    home = a_file / "data" if under else a_file
    if args[0] == "serve":
        args = ("serve", "--port", str(free_port()))
    proc = _run(tmp_path, *args, SHUANGSUI_HOME=str(home), SHUANGSUI_DATABASE_URL=db_url)
    assert proc.returncode == 2, proc.stderr
    line = f"error: settings: SHUANGSUI_HOME: {a_file} is a file, not a folder"
    assert proc.stderr.startswith(line), proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Uvicorn running" not in proc.stderr


def test_a_home_that_is_a_file_is_refused_on_the_default_database(
    tmp_path: Path, a_file: Path
) -> None:
    proc = _run(tmp_path, "round", "list", SHUANGSUI_HOME=str(a_file))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: settings: SHUANGSUI_HOME: {a_file} is a file"), (
        proc.stderr
    )
