"""Bulk writes with SQLAlchemy Core, in the connection's transaction.

Rows come in as canonical values (ISO dates as text, enumeration values as text, lists) plus
``updated_at``/``at`` datetimes, the same for a whole batch (``constants``). Inserts go through
``COPY`` on PostgreSQL (psycopg) and through one prepared ``executemany`` per chunk on SQLite;
each chunk is turned into columns, each column converted as a whole (a constant once), and
zipped back into the tuples the driver takes. Updates are a Core ``UPDATE`` with
``executemany``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

WRITE_CHUNK = 10_000
Converter = Callable[[Any], Any] | None


def bulk_insert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    constants: dict[str, Any] | None = None,
) -> None:
    """Insert ``rows``, each completed by ``constants``, in order (their order is the order of
    any autoincrement key)."""
    if not rows:
        return
    constants = constants or {}
    columns = [c for c in table.columns if c.name in rows[0] or c.name in constants]
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
            _copy(conn, table, columns, _tuples(conn, columns, chunk, constants))
        elif conn.dialect.name == "sqlite":
            _sqlite_executemany(conn, table, columns, _tuples(conn, columns, chunk, constants))
        else:
            conn.execute(table.insert(), [_typed(columns, {**r, **constants}) for r in chunk])


def _tuples(
    conn: sa.Connection,
    columns: Sequence[sa.Column[Any]],
    rows: Sequence[dict[str, Any]],
    constants: dict[str, Any],
) -> list[tuple[Any, ...]]:
    """The rows as driver-ready tuples, built a column at a time."""
    postgres = conn.dialect.name == "postgresql"
    values: list[list[Any]] = []
    for c in columns:
        convert = _pg_converter(c) if postgres else _sqlite_converter(conn, c)
        if c.name in constants:
            value = constants[c.name]
            values.append([value if convert is None else convert(value)] * len(rows))
        else:
            column = [row[c.name] for row in rows]
            values.append(column if convert is None else list(map(convert, column)))
    return list(zip(*values, strict=True))


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
    rows: Sequence[tuple[Any, ...]],
) -> None:
    names = ", ".join(f'"{c.name}"' for c in columns)
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.IntegrityError as refused:  # as SQLAlchemy raises it
        raise sa.exc.IntegrityError(statement, None, refused) from refused


def _json_text(value: Any) -> Any:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _pg_converter(column: sa.Column[Any]) -> Converter:
    return _json_text if _is_json(column) else None


def _sqlite_json(value: Any) -> Any:
    return None if value is None else json.dumps(value)


def _sqlite_converter(conn: sa.Connection, column: sa.Column[Any]) -> Converter:
    if _is_json(column):
        return _sqlite_json
    processor = column.type.bind_processor(conn.dialect)
    if isinstance(column.type, sa.DateTime) and processor is None:
        return _sqlite_datetime
    if isinstance(column.type, sa.Date):
        return _sqlite_date
    if processor is None or isinstance(column.type, sa.Enum | sa.String | sa.Boolean | sa.Integer):
        return None  # already the text / number SQLite stores
    cache: dict[Any, Any] = {}

    def convert(value: Any) -> Any:  # a batch's one timestamp: converted once, not per row
        if value not in cache:
            cache[value] = _sqlite_datetime(processor(value))
        return cache[value]

    return convert


def _sqlite_datetime(value: Any) -> Any:
    """The text the sqlite3 module's default adapter stores for a datetime (``isoformat(" ")``),
    worked out here so that a batch's one timestamp is formatted once, not once per row (a
    datetime type's own bind processor, such as sqlmodel's ``UTCDateTime``, still hands the
    driver a datetime)."""
    return value.isoformat(" ") if isinstance(value, datetime) else value


def _sqlite_date(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value  # ISO text passes as it is


def _sqlite_executemany(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[sa.Column[Any]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    names = ", ".join(f'"{c.name}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)


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
