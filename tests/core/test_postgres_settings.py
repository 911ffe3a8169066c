"""What shuangsui stores and shows does not depend on the PostgreSQL server's own zone or
collation (CI runs every PostgreSQL test with sessions in Asia/Shanghai and databases
collating by zh-CN: .ci/run, tests/databases.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from registry.models import CheckItem
from rounds.frames import code_order
from shuangsui.db import make_engine
from tests.databases import ICU_LOCALE

MOMENT = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)


def test_a_server_in_another_zone_hands_back_times_in_utc(
    new_postgres_database: Callable[[str], str],
) -> None:
    """A server whose TimeZone is Asia/Shanghai (as one installed there usually is): our
    sessions are in UTC, so a stored moment comes back as the same text as on any other
    server (the bundle's round.json prints its round's times)."""
    url = new_postgres_database("zone")
    name = make_url(url).database
    with make_engine(url, poolclass=sa.pool.NullPool).begin() as conn:
        conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone = 'Asia/Shanghai'"))
        conn.execute(
            sa.insert(CheckItem.__table__),  # type: ignore[attr-defined]
            [{"code": "T-1", "name": "t", "legal_basis": "", "category": "general",
              "cert_kinds": [], "updated_at": MOMENT}],
        )  # fmt: skip
    query = sa.text("SELECT current_setting('TimeZone'), updated_at FROM checkitem")
    bare = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with bare.connect() as conn:  # without the setting: the server's zone
        zone, at = conn.execute(query).one()
    assert (zone, at.isoformat()) == ("Asia/Shanghai", "2026-12-03T17:30:15.123456+08:00")
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        zone, at = conn.execute(query).one()
        conn.rollback()  # the setting outlives a transaction
        assert conn.execute(query).one() == (zone, at)
    assert (zone, at.isoformat()) == ("UTC", "2026-12-03T09:30:15.123456+00:00")


def test_credit_codes_are_read_in_code_point_order_whatever_the_collation(
    postgres_database: str,
) -> None:
    """The frame reads credit codes in the order Python compares them; the database's own
    collation may sort them otherwise (zh-CN puts lower case first, and ignores case first)."""
    engine = make_engine(postgres_database, poolclass=sa.pool.NullPool)
    codes = ["a1", "Z9", "乙", "甲", "91350100M000100Y43", "9135010"]
    values = sa.values(sa.column("code", sa.String), name="codes").data([(c,) for c in codes])
    column = values.c.code
    try:
        with engine.connect() as conn:
            ours = list(conn.scalars(sa.select(column).order_by(code_order(conn)(column))))
            theirs = list(conn.scalars(sa.select(column).order_by(column)))
            provider, locale = conn.execute(
                sa.text("SELECT datlocprovider, daticulocale FROM pg_database"
                        " WHERE datname = current_database()")
            ).one()  # fmt: skip
    finally:
        engine.dispose()
    assert ours == sorted(codes)
    if ICU_LOCALE:  # the databases are made as CI asks, or this run tests less than it says
        assert (provider, locale) == ("i", ICU_LOCALE)
        assert theirs != sorted(codes)
