"""The benches' own PostgreSQL databases, made and dropped on the server a bench's URL names
(its role needs CREATEDB, as the README's and CI's ``shuangsui`` role has).

Dropping a database a bench has just filled can meet the server's autovacuum at work in it. A
role that is not a superuser may not end that worker, so ``DROP DATABASE ... WITH (FORCE)``
refuses (``InsufficientPrivilege``); the worker is done within moments, so the drop is tried
again every second for up to a minute before it is given up. (Seen at the end of a publish
bench at 100,000 results: its figures were printed, its databases were left behind.)
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import make_url

RETRIES = 60  # seconds


def drop(url: str, *names: str) -> None:
    """Drop the databases ``names`` (those that exist) on the server of ``url``."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                for attempt in range(RETRIES):
                    try:
                        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                        break
                    except sa.exc.ProgrammingError:  # an autovacuum worker of another role
                        if attempt == RETRIES - 1:
                            raise
                        time.sleep(1)
    finally:
        admin.dispose()


def fresh(url: str, name: str, *, template: str | None = None) -> str:
    """A new database ``name`` (empty, or a copy of ``template``) on the server of ``url``,
    dropped first if it exists; its URL."""
    drop(url, name)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            copy = f' TEMPLATE "{template}"' if template else ""
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)
