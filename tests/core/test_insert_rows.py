"""Rows written as tuples (``shuangsui.db.insert_rows``) store what an insert through the
table stores, a value shared by many rows encoded once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa

from shuangsui.db import insert_returning_ids, insert_rows, once_per_object

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


def test_ids_come_back_in_order_and_a_driver_error_as_sqlalchemy_s(engine: sa.Engine) -> None:
    """``insert_returning_ids`` (psycopg's own executemany on PostgreSQL, a Core insert
    elsewhere): the ids in the rows' order, a left-out column's default written, and a broken
    constraint raised as SQLAlchemy's ``IntegrityError``, which callers catch, with nothing
    kept once rolled back."""
    meta = sa.MetaData()
    table = sa.Table(
        "insert_ids_check", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ref", sa.String(20), unique=True),
        sa.Column("state", sa.String(10), default="new"),
    )  # fmt: skip
    meta.create_all(engine)
    try:
        rows = [{"ref": f"r{i}"} for i in (3, 1, 2)]
        with engine.begin() as conn:
            ids = insert_returning_ids(conn, table, rows)
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.select(table.c.id, table.c.ref)).all())
            states = set(conn.execute(sa.select(table.c.state)).scalars())
        assert [stored[i] for i in ids] == ["r3", "r1", "r2"] and states == {"new"}
        with engine.connect() as conn:
            try:
                insert_returning_ids(conn, table, [{"ref": "r9"}, {"ref": "r1"}])
            except sa.exc.IntegrityError:
                conn.rollback()
            else:
                raise AssertionError("a duplicate ref was inserted")
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 3
    finally:
        meta.drop_all(engine)  # the test database's tables are the models' alone


def test_a_broken_constraint_in_tuples_is_sqlalchemy_s_integrity_error(engine: sa.Engine) -> None:
    """``insert_rows`` raised psycopg's own ``UniqueViolation`` from its ``COPY``, which no
    caller catches as a collision: ``shuangsui.writes.write`` retries SQLAlchemy's
    ``DBAPIError``s, the leads import refuses on ``IntegrityError``, and the audit log's bulk
    append (``rounds.audit.add_many``) writes its rows here. Now SQLAlchemy's, as a
    statement's error is, on both databases, with nothing kept once rolled back."""
    meta = sa.MetaData()
    table = sa.Table(
        "insert_rows_unique", meta,
        sa.Column("n", sa.Integer, primary_key=True),
        sa.Column("ref", sa.String(20), unique=True),
    )  # fmt: skip
    meta.create_all(engine)
    try:
        with engine.begin() as conn:
            insert_rows(conn, table, ("n", "ref"), [(1, "r1")])
        with engine.connect() as conn:
            try:
                insert_rows(conn, table, ("n", "ref"), [(2, "r2"), (3, "r1")])
            except sa.exc.IntegrityError as exc:
                assert "r1" in str(exc.orig) or "UNIQUE" in str(exc.orig), exc.orig
                conn.rollback()
            else:
                raise AssertionError("a duplicate ref was inserted")
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 1
    finally:
        meta.drop_all(engine)
