"""A SQLite database that is damaged (a backup's copy cut short, a file overwritten) is said in
one line naming the database and what to do, not a traceback: every command stopped with
SQLAlchemy's ``DatabaseError: (sqlite3.DatabaseError) database disk image is malformed`` (or
``file is not a database``), and ``shuangsui db backup`` of such a database with a raw
``sqlite3.DatabaseError`` from its own check. A damaged file is SQLite's alone: a PostgreSQL
database is the server's, restored with ``pg_restore``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy.procs import BIN, REPO_ROOT, clean_env


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "shuangsui"), *args],
        cwd=cwd,
        env=clean_env(PREFECT_HOME=str(cwd / "prefect-home")),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _cut_short(db: Path) -> None:  # a copy interrupted half way
    os.truncate(db, db.stat().st_size // 2)


def _not_a_database(db: Path) -> None:  # overwritten whole
    db.write_bytes(bytes(range(256)) * 64)


def _schema_overwritten(db: Path) -> None:  # its first page after the header
    with db.open("r+b") as f:
        f.seek(100)
        f.write(b"A" * 3996)


DAMAGES: dict[str, Callable[[Path], None]] = {
    "cut short": _cut_short,
    "not a database": _not_a_database,
    "schema overwritten": _schema_overwritten,
}


@pytest.fixture
def damaged(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A data directory whose database was made by shuangsui, then damaged."""
    shutil.copytree(REPO_ROOT / "plans", tmp_path / "plans")
    made = _run(tmp_path, "tokens", "create-coordinator", "林科长")
    assert made.returncode == 0, made.stderr
    db = tmp_path / ".shuangsui" / "shuangsui.db"
    assert not db.with_name(db.name + "-wal").exists()  # the command ended: all in the file
    DAMAGES[request.param](db)
    return tmp_path


@pytest.mark.parametrize("damaged", list(DAMAGES), indirect=True)
@pytest.mark.parametrize("args", [("round", "audit"), ("round", "list"), ("db", "migrate")])
def test_a_damaged_database_is_one_line_naming_it(damaged: Path, args: tuple[str, ...]) -> None:
    proc = _run(damaged, *args)
    db = (damaged / ".shuangsui" / "shuangsui.db").resolve()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"error: database sqlite:///{db}: "), proc.stderr
    assert "is damaged" in proc.stderr and "restore" in proc.stderr, proc.stderr


@pytest.mark.parametrize("damaged", ["not a database", "schema overwritten"], indirect=True)
def test_a_backup_of_a_damaged_database_says_its_check_failed(damaged: Path) -> None:
    proc = _run(damaged, "db", "backup", str(damaged / "backup"))
    db = (damaged / ".shuangsui" / "shuangsui.db").resolve()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr  # a check that failed
    assert proc.stderr.startswith(f"error: the backup's copy of {db} failed its check: ")
    assert "restore" in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
