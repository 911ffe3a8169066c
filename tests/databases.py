"""PostgreSQL databases of the tests' own, made and dropped on the server of
``SHUANGSUI_TEST_POSTGRES_URL`` (its role needs CREATEDB, as CI's ``shuangsui`` role has).

``SHUANGSUI_TEST_POSTGRES_ICU_LOCALE`` (CI: ``zh-CN``) makes each new empty database collate
text by that ICU locale rather than the server's default: pinyin order, case-insensitive
first, as a server installed in Fujian may well sort, where the C collation sorts by code
point like SQLite and Python. Nothing shuangsui stores, hashes or publishes may depend on it.
"""

from __future__ import annotations

import os
import re
import time

import sqlalchemy as sa

PAUSE = 0.5
ICU_LOCALE = os.environ.get("SHUANGSUI_TEST_POSTGRES_ICU_LOCALE", "")


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
    if ICU_LOCALE and not template:  # a copy has its template's collation
        if not re.fullmatch(r"[A-Za-z0-9_-]+", ICU_LOCALE):
            raise ValueError(f"SHUANGSUI_TEST_POSTGRES_ICU_LOCALE={ICU_LOCALE!r}: not a locale")
        copy = f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{ICU_LOCALE}'"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
