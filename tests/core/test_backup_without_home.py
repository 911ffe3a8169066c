"""``shuangsui db backup DEST`` of a data directory that does not exist is refused, naming
``SHUANGSUI_HOME``: with the database elsewhere (PostgreSQL, or a SQLite URL) and the variable
mistyped or unset (a cron job without the bureau's environment, ``./.shuangsui`` of its working
directory), it said ``0 file(s) of the data directory copied`` and exit 0: a backup without the
keys, evidence, bundles and outbox, unnoticed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.deploy.procs import BIN, clean_env


def test_a_backup_of_a_data_directory_that_does_not_exist_is_refused(
    tmp_path: Path, db_url: str
) -> None:
    home, dest = tmp_path / "no-such-home", tmp_path / "backup"
    proc = subprocess.run(
        [str(BIN / "shuangsui"), "db", "backup", str(dest)],
        cwd=tmp_path,
        env=clean_env(
            PREFECT_HOME=str(tmp_path / "prefect-home"),
            SHUANGSUI_HOME=str(home),
            SHUANGSUI_DATABASE_URL=db_url,
        ),  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = f"error: data directory {home} does not exist (SHUANGSUI_HOME is {home}): "
    assert proc.stderr.startswith(line) and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not dest.exists() and not home.exists()
