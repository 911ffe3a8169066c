"""Times are stored as UTC wall times whatever the PostgreSQL server's zone; rows written as
tuples (``shuangsui.db.insert_rows``) store what an insert through the table stores, a value
shared by many rows encoded once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from registry.models import CheckItem
from shuangsui.db import insert_rows, make_engine, once_per_object

LOCAL = timezone(timedelta(hours=8))
MOMENT = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)
# the same instant as MOMENT: equal, and hashed alike, but not the same text on SQLite
SAME_INSTANT = MOMENT.astimezone(LOCAL)


def test_a_value_shared_by_many_rows_is_encoded_once_and_equal_values_apart() -> None:
    calls: list[object] = []

    def process(value: object) -> str:
        calls.append(value)
        return repr(value)

    encode = once_per_object(process)
    shared = MOMENT
    out = [encode(v) for v in (shared, shared, SAME_INSTANT, shared, SAME_INSTANT)]
    assert out == [repr(MOMENT)] * 2 + [repr(SAME_INSTANT), repr(MOMENT), repr(SAME_INSTANT)]
    assert calls == [MOMENT, SAME_INSTANT]  # one call per object, not per equal value


def test_tuples_store_the_bytes_a_table_insert_stores(engine: sa.Engine) -> None:
    meta = sa.MetaData()
    table = sa.Table(
        "insert_rows_check", meta,
        sa.Column("n", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True)),  # as every time column of ours
        sa.Column("due", sa.Date),
    )  # fmt: skip
    meta.create_all(engine)
    due = date(2026, 12, 31)
    values = [MOMENT, MOMENT, SAME_INSTANT, MOMENT.replace(tzinfo=None), MOMENT]
    try:
        with engine.begin() as conn:
            rows = [(i, at, due) for i, at in enumerate(values)]
            insert_rows(conn, table, ("n", "at", "due"), rows)
            conn.execute(
                sa.insert(table),
                [{"n": 100 + i, "at": at, "due": due} for i, at in enumerate(values)],
            )
        text = "SELECT CAST(at AS TEXT), CAST(due AS TEXT) FROM {} WHERE {}"
        with engine.connect() as conn:
            tuples = conn.execute(sa.text(text.format(table.name, "n < 100 ORDER BY n"))).all()
            inserted = conn.execute(sa.text(text.format(table.name, "n >= 100 ORDER BY n"))).all()
        assert tuples == inserted
        if engine.dialect.name == "sqlite":  # the equal instants kept apart, as the insert does
            assert tuples[2][0] != tuples[0][0]
        else:  # one moment, whatever zone it was given in
            assert tuples[2][0] == tuples[0][0]
    finally:
        meta.drop_all(engine)


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
