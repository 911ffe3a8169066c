"""PostgreSQL databases of the tests' own, made and dropped on the server of
``SHUANGSUI_TEST_POSTGRES_URL`` (its role needs CREATEDB, as CI's ``shuangsui`` role has)."""

from __future__ import annotations

import time

import sqlalchemy as sa

PAUSE = 0.5


def drop_database(admin: sa.Engine, name: str, *, within: float = 30) -> None:
    """Drop ``name`` if it exists. ``WITH (FORCE)`` may not end a server process of another
    role that has just connected to it (an autovacuum worker after a test filled it): such a
    process leaves within moments, so the drop is tried again for up to ``within`` seconds
    before it is given up. (The benches drop their databases through this too.)"""
    attempts = max(1, round(within / PAUSE))
    for attempt in range(attempts):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except sa.exc.ProgrammingError:  # InsufficientPrivilege
            if attempt == attempts - 1:
                raise
            time.sleep(PAUSE)


def create_database(
    admin: sa.Engine, name: str, *, template: str | None = None, within: float = 30
) -> None:
    """A database ``name``, empty or a copy of ``template``, made anew (one left by an earlier
    run is dropped first, as :func:`drop_database` drops it)."""
    drop_database(admin, name, within=within)
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
