"""Bulk writes with SQLAlchemy Core, in the connection's transaction.

Rows come in as canonical values (ISO dates as text, enumeration values as text, lists) plus
``updated_at``/``at`` datetimes. Inserts go through ``COPY`` on PostgreSQL (psycopg) and through
one prepared ``executemany`` per chunk on SQLite, with each column's conversion worked out once
per chunk rather than once per value; updates are a Core ``UPDATE`` with ``executemany``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

WRITE_CHUNK = 10_000
Converter = Callable[[Any], Any] | None


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` in order (their order is the order of any autoincrement key)."""
    if not rows:
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
            _copy(conn, table, columns, chunk)
        elif conn.dialect.name == "sqlite":
            _sqlite_executemany(conn, table, columns, chunk)
        else:
            conn.execute(table.insert(), [_typed(columns, r) for r in chunk])


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.JSON)


def _typed(columns: Sequence[sa.Column[Any]], row: dict[str, Any]) -> dict[str, Any]:
    """A row with ISO-date text turned back into dates, for SQLAlchemy's own type handling."""
    out = dict(row)
    for c in columns:
        if isinstance(c.type, sa.Date) and isinstance(out.get(c.name), str):
            out[c.name] = date.fromisoformat(out[c.name])
    return out


def _copy(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[sa.Column[Any]],
    rows: Sequence[dict[str, Any]],
) -> None:
    names = ", ".join(f'"{c.name}"' for c in columns)
    json_cols = {c.name for c in columns if _is_json(c)}
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[c.name], ensure_ascii=False)
                    if c.name in json_cols and row[c.name] is not None
                    else row[c.name]
                    for c in columns
                ]
            )


def _sqlite_converter(conn: sa.Connection, column: sa.Column[Any], sample: Any) -> Converter:
    if _is_json(column):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(column.type, sa.Date) and not isinstance(sample, str):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(column.type, sa.Enum | sa.String | sa.Boolean | sa.Date | sa.Integer):
        return None  # already the text / number SQLite stores
    processor = column.type.bind_processor(conn.dialect)
    if processor is None:
        return None
    cache: dict[Any, Any] = {}

    def convert(value: Any) -> Any:  # the same timestamp for a whole batch: convert it once
        if value not in cache:
            cache[value] = processor(value)
        return cache[value]

    return convert


def _sqlite_executemany(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[sa.Column[Any]],
    rows: Sequence[dict[str, Any]],
) -> None:
    names = ", ".join(f'"{c.name}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    converters = [(c.name, _sqlite_converter(conn, c, rows[0][c.name])) for c in columns]
    params = [
        tuple(row[name] if conv is None else conv(row[name]) for name, conv in converters)
        for row in rows
    ]
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', params)


def bulk_update(
    conn: sa.Connection, table: sa.Table, key: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Update whole rows by natural key with one Core ``executemany`` per chunk."""
    if not rows:
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    values = [c.name for c in columns if c.name not in key]
    statement = (
        sa.update(table)
        .where(*(table.c[k] == sa.bindparam(f"key_{k}") for k in key))
        .values({c: sa.bindparam(c) for c in values})
    )
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = [_typed(columns, r) for r in rows[start : start + WRITE_CHUNK]]
        params = [{**{f"key_{k}": r[k] for k in key}, **{c: r[c] for c in values}} for r in chunk]
        conn.execute(statement, params)
