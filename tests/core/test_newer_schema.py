"""An older shuangsui started against a database a newer one has migrated (a worker not yet
upgraded, a rollback of the program without the database): every command migrates first, and
alembic's answer was a ``CommandError: Can't locate revision identified by ...`` traceback.
It is refused in one line naming both versions, and the database is left as it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shuangsui import db
from shuangsui.errors import UserError
from tests.deploy.procs import BIN, clean_env

NEWER = "0099_from_a_newer_shuangsui"


def _version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


def _set_version(url: str, version: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": version})
    finally:
        engine.dispose()


@pytest.fixture
def newer(db_url: str) -> Iterator[str]:
    """The test database as a newer shuangsui left it (its head put back afterwards: the
    PostgreSQL database is kept for the next test)."""
    head = _version(db_url)
    _set_version(db_url, NEWER)
    try:
        yield db_url
    finally:
        _set_version(db_url, head)


def test_a_schema_newer_than_the_program_is_refused_in_one_line(newer: str) -> None:
    with pytest.raises(UserError) as caught:
        db.migrate(newer)
    said = str(caught.value)
    assert NEWER in said and "newer" in said and "\n" not in said
    assert _version(newer) == NEWER  # nothing was changed


def test_the_command_line_says_so_and_exits_2(newer: str, tmp_path: Path) -> None:
    import subprocess

    proc = subprocess.run(
        [str(BIN / "shuangsui"), "round", "list"],
        cwd=tmp_path,
        env=clean_env(SHUANGSUI_DATABASE_URL=newer, PREFECT_HOME=str(tmp_path / "prefect")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and NEWER in proc.stderr
    assert "Traceback" not in proc.stderr
