"""In production ``SHUANGSUI_HOME`` must be an absolute path. A relative one (or none: the
default ``./.shuangsui``) is read from each process's working directory, and a deployment's
workers run from ``SHUANGSUI_REPO_DIR`` (prefect.yaml's pull step) while ``serve`` and the
operator's commands run from wherever they are started: each had a data directory of its own.
``SHUANGSUI_HOME=data shuangsui partners keygen`` run from two folders made two different keys
of the bureau (the workers' sync and publish signing with one, the partners given the other),
and evidence uploaded through ``serve`` was not in the workers' data directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.procs import shuangsui

STRONG = "k7Qm_2vXo9LrT4pWz8NcY1bHs6JdE3fG-uA5"


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    public = "https://shuangsui.example.gov.cn"  # production: where inspectors reach serve
    return shuangsui(cwd, *args, SHUANGSUI_SECRET_KEY=STRONG, SHUANGSUI_PUBLIC_BASE_URL=public,
                     **env)  # fmt: skip


@pytest.mark.parametrize("home", ["data", "./var/shuangsui", None])
def test_production_refuses_a_relative_data_directory(
    tmp_path: Path, db_url: str, home: str | None
) -> None:
    env = {"SHUANGSUI_ENVIRONMENT": "production", "SHUANGSUI_DATABASE_URL": db_url}
    if home is not None:
        env["SHUANGSUI_HOME"] = home
    proc = _run(tmp_path, "partners", "keygen", **env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    named = str(Path(home or ".shuangsui"))  # as the settings read it: ./var/… is var/…
    line = f"error: settings: SHUANGSUI_HOME is {named}, a path relative to the working directory"
    assert proc.stderr.startswith(line) and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "/var/lib/shuangsui" in proc.stderr
    assert not (tmp_path / named).exists()  # refused before anything was made


def test_production_takes_an_absolute_data_directory(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "var" / "shuangsui"
    proc = _run(tmp_path, "partners", "keygen", SHUANGSUI_ENVIRONMENT="production",
                SHUANGSUI_DATABASE_URL=db_url, SHUANGSUI_HOME=str(home))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert list((home / "keys").glob("*.pem"))


def test_development_keeps_its_relative_default(tmp_path: Path, db_url: str) -> None:
    proc = _run(tmp_path, "partners", "keygen", SHUANGSUI_DATABASE_URL=db_url)
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / ".shuangsui" / "keys").glob("*.pem"))
