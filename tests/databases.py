"""PostgreSQL databases of the tests' own, made and dropped on the server of
``SHUANGSUI_TEST_POSTGRES_URL`` (its role needs CREATEDB, as CI's ``shuangsui`` role has)."""

from __future__ import annotations

import time

import sqlalchemy as sa

ATTEMPTS, PAUSE = 60, 0.5  # up to half a minute


def drop_database(admin: sa.Engine, name: str) -> None:
    """Drop ``name`` if it exists. ``WITH (FORCE)`` may not end a server process of another
    role that has just connected to it (an autovacuum worker after a test filled it): such a
    process leaves within moments, so the drop is tried again before it is given up."""
    for attempt in range(ATTEMPTS):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except sa.exc.ProgrammingError:  # InsufficientPrivilege
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(PAUSE)


def create_database(admin: sa.Engine, name: str) -> None:
    """An empty database ``name``, made anew (one left by an earlier run is dropped first)."""
    drop_database(admin, name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
