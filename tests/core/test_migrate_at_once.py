"""Two commands started at once on a new PostgreSQL database both migrate it: the second
waits for the first and finds the schema at head, instead of failing on a table the first has
just made (SQLite's migrators queue on ``BEGIN IMMEDIATE`` already)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from shuangsui import db, files
from tests.databases import create_database, drop_database
from tests.deploy.procs import REPO_ROOT, clean_env

pytestmark = pytest.mark.postgres

POSTGRES_URL = os.environ.get("SHUANGSUI_TEST_POSTGRES_URL", "")


@pytest.fixture
def empty_postgres() -> Iterator[tuple[sa.Engine, str]]:
    """A new, empty PostgreSQL database (not migrated); the admin engine and its URL."""
    if not POSTGRES_URL:
        if os.environ.get("SHUANGSUI_REQUIRE_POSTGRES") == "1":
            pytest.fail("SHUANGSUI_REQUIRE_POSTGRES=1 but SHUANGSUI_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set SHUANGSUI_TEST_POSTGRES_URL)")
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"shuangsui_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}_mig"
    create_database(admin, name)
    try:
        yield admin, make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    finally:
        drop_database(admin, name)
        admin.dispose()


def waiting_on_a_lock(admin: sa.Engine, database: str, *, within: float = 60) -> None:
    """Return once a server process of ``database`` waits for a lock another holds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with admin.connect() as conn:
            found = conn.execute(
                sa.text(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = :d AND wait_event_type = 'Lock'"
                ),
                {"d": database},
            ).first()
        if found:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing in {database} came to wait for a lock")


def test_a_second_migrator_waits_for_the_first_and_finds_the_schema_at_head(
    empty_postgres: tuple[sa.Engine, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    admin, url = empty_postgres
    first_inside, go_on = threading.Event(), threading.Event()
    real_kill_point = files.kill_point

    def pause_the_first(name: str, detail: str = "") -> None:
        # the first migrator, its transaction open after its first revision, waits here
        if name == "migration" and detail == "0001":
            first_inside.set()
            assert go_on.wait(120)
        real_kill_point(name, detail)

    monkeypatch.setattr(files, "kill_point", pause_the_first)  # env.py reads it on each run
    failed: list[BaseException] = []

    def migrate() -> None:
        try:
            db.migrate(url)
        except BaseException as exc:  # the test reports it
            failed.append(exc)

    one = threading.Thread(target=migrate)
    one.start()
    try:
        assert first_inside.wait(120), f"the first migrator never started: {failed}"
        # the second, a command of its own (alembic's context is one per process)
        env = clean_env(SHUANGSUI_HOME=str(tmp_path / "home"), SHUANGSUI_DATABASE_URL=url)
        two = subprocess.Popen(
            [sys.executable, "-m", "shuangsui", "db", "migrate"],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        waiting_on_a_lock(admin, make_url(url).database or "")  # queued behind the first
    finally:
        go_on.set()
        one.join(120)
    out, err = two.communicate(timeout=300)
    assert failed == []
    assert two.returncode == 0, err
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(versions) == 1
