"""A ``shuangsui db backup DEST`` cut short leaves no folder that looks like a backup. Ctrl-C
while it copied left DEST holding the files copied so far (or every file and a database whose
check never ran), never said "copied and checked", and the next ``db backup DEST`` refused it
as not empty, so the operator kept it. The backup is now written beside DEST and renamed to it
once whole and checked: cut short, DEST is not there, and the next try takes it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from shuangsui.backup import backup
from shuangsui.config import get_settings
from tests.core.test_backup import home  # noqa: F401  (the fixture)
from tests.deploy.procs import REPO_ROOT, clean_env


def test_a_backup_interrupted_leaves_no_backup_folder(
    home: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dest = tmp_path / "backups" / "2026-12-31"
    copied: list[str] = []
    real_copy = shutil.copy2

    def copy_then_ctrl_c(src: str, dst: str) -> str:
        if copied:  # the second file: the operator presses Ctrl-C
            raise KeyboardInterrupt
        copied.append(str(src))
        return str(real_copy(src, dst))

    monkeypatch.setattr(shutil, "copy2", copy_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        backup(get_settings(), dest)
    assert copied  # it was cut short while copying
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # nor a folder half made beside it
    monkeypatch.setattr(shutil, "copy2", real_copy)
    report = backup(get_settings(), dest)  # the next try takes DEST
    assert (report.folder, report.files) == (dest.resolve(), 2)


def test_a_backup_killed_before_it_is_whole_is_taken_again(
    home: Path,  # noqa: F811
    tmp_path: Path,
    db_url: str,
    engine: sa.Engine,
) -> None:
    dest = tmp_path / "backups" / "2026-12-31"
    env = clean_env(SHUANGSUI_HOME=str(home), SHUANGSUI_DATABASE_URL=db_url,
                    PREFECT_HOME=str(tmp_path / "prefect-home"))  # fmt: skip
    argv = [sys.executable, "-m", "shuangsui", "db", "backup", str(dest)]

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=REPO_ROOT, env=env | extra, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    killed = run(SHUANGSUI_TEST_KILL_AT="backup:before-rename")
    assert killed.returncode == -9, killed.stderr
    assert not dest.exists()
    again = run()
    assert again.returncode == 0, again.stderr
    assert f"2 file(s) of the data directory copied into {dest}" in again.stdout
    assert sorted(p.name for p in dest.parent.iterdir()) == ["2026-12-31"]
