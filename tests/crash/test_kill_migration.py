"""The first command on a new SQLite data directory, killed mid-migration: the directory
stays usable. And a schema an earlier version left half-made is repaired or refused."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from shuangsui import db
from shuangsui.errors import UserError
from tests.deploy.procs import REPO_ROOT, clean_env

pytestmark = pytest.mark.slow

MODEL_TABLES = {t.name for t in SQLModel.metadata.sorted_tables}


def _shuangsui(home: Path, *args: str, kill_at: str = "") -> subprocess.CompletedProcess[str]:
    env = clean_env(SHUANGSUI_HOME=str(home), SHUANGSUI_ENVIRONMENT="test")
    if kill_at:
        env["SHUANGSUI_TEST_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "shuangsui", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


@pytest.mark.parametrize("revision", ["0001", "0003", "0010"])
def test_a_first_migration_killed_midway_leaves_a_usable_directory(
    tmp_path: Path, revision: str
) -> None:
    home = tmp_path / "home"
    killed = _shuangsui(home, "db", "migrate", kill_at=f"migration:{revision}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _tables(home / "shuangsui.db") == set()  # all or nothing: nothing

    again = _shuangsui(home, "db", "migrate")
    assert again.returncode == 0, again.stderr
    status = _shuangsui(home, "notifications", "status")
    assert status.returncode == 0 and "pending: 0" in status.stdout, status.stderr
    assert _tables(home / "shuangsui.db") == MODEL_TABLES | {"alembic_version"}


def _half_made(path: Path) -> str:
    """Some of the tables, no schema version: what a killed migration of an earlier version
    left on SQLite."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    tables = [SQLModel.metadata.tables[n] for n in ("audit_event", "notification", "round")]
    SQLModel.metadata.create_all(engine, tables=tables)
    engine.dispose()
    return url


def test_a_half_made_empty_schema_is_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = _half_made(tmp_path / "half.db")
    db.migrate(url)
    assert "left by an interrupted first migration" in caplog.text
    assert _tables(tmp_path / "half.db") == MODEL_TABLES | {"alembic_version"}


def test_a_half_made_schema_holding_rows_is_refused_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _half_made(home / "shuangsui.db")
    with sqlite3.connect(home / "shuangsui.db") as conn:
        conn.execute(
            "INSERT INTO audit_event (seq, at, event, payload, prev_hash, hash) "
            "VALUES (1, '2026-11-30', 'x', '{}', '', '')"
        )
    with pytest.raises(UserError, match="audit_event"):
        db.migrate(f"sqlite:///{home / 'shuangsui.db'}")
    done = _shuangsui(home, "db", "migrate")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "backup" in lines[0], lines
    assert "audit_event" in _tables(home / "shuangsui.db")  # nothing dropped
