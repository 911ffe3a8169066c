"""The benches' own PostgreSQL databases, made and dropped on the server a bench's URL names
(its role needs CREATEDB, as the README's and CI's ``shuangsui`` role has).

Dropping a database a bench has just filled can meet the server's autovacuum at work in it. A
role that is not a superuser may not end that worker, so ``DROP DATABASE ... WITH (FORCE)``
refuses (``InsufficientPrivilege``); the worker is done within moments, so the drop is tried
again for up to a minute before it is given up (``tests.databases``, which the tests' own
databases go through too). (Seen at the end of a publish
bench at 100,000 results: its figures were printed, its databases were left behind.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.databases import create_database, drop_database

WITHIN = 60  # seconds: a bench's databases are larger than a test's


def drop(url: str, *names: str) -> None:
    """Drop the databases ``names`` (those that exist) on the server of ``url``."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        for name in names:
            drop_database(admin, name, within=WITHIN)
    finally:
        admin.dispose()


def fresh(url: str, name: str, *, template: str | None = None) -> str:
    """A new database ``name`` (empty, or a copy of ``template``) on the server of ``url``,
    dropped first if it exists; its URL."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        create_database(admin, name, template=template, within=WITHIN)
    finally:
        admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)
