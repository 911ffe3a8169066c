"""Stored registry rows read back by natural key, as canonical values: the inverse of
:mod:`registry.writer`.

A re-import compares every row of the file with the row stored under its key, so it reads as
many rows as it imports. They are read straight from the driver, a chunk of keys per
statement, and turned into canonical values (ISO dates as text, enumeration values as text,
lists, booleans) a column at a time, converting only the columns whose stored form differs
from the canonical one on that database: a SQLAlchemy result row and a canonical value per
cell cost more than the look-up itself (``docs/benchmarks.md``, Registry import).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from itertools import chain
from typing import Any

import sqlalchemy as sa

from registry.history import canonical_value

KEY_CHUNK = 2_000
Converter = Callable[[Any], Any] | None


def rows_by_key(
    conn: sa.Connection,
    table: sa.Table,
    key: Sequence[str],
    columns: Sequence[str],
    keys: Sequence[tuple[str, ...]],
) -> Iterator[tuple[Any, ...]]:
    """The stored ``columns`` (canonical values, in that order) of the rows of ``table`` whose
    ``key`` columns hold one of ``keys``, in no particular order. ``columns`` includes the
    key's."""
    converters = [canonical_converter(conn, table.c[name]) for name in columns]
    convert = any(converters)
    selected = ", ".join(_selected(conn, table.c[name]) for name in columns)
    select = f'SELECT {selected} FROM "{table.name}" AS t'
    given = ", ".join(f'"{k}"' for k in key)
    on = " AND ".join(f't."{k}" = wanted."{k}"' for k in key)
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = keys[start : start + KEY_CHUNK]
        # the keys joined with the table on the whole key: one index probe per key (an IN
        # list per column made PostgreSQL scan every row of a certificate body, and SQLite
        # probe every combination of the lists' values)
        params: tuple[Any, ...]
        if conn.dialect.name == "postgresql":
            arrays = ", ".join("%b::varchar[]" for _ in key)  # binary: no quoting to check
            query = f"{select} JOIN unnest({arrays}) AS wanted({given}) ON {on}"
            params = tuple([k[i] for k in chunk] for i in range(len(key)))
        else:
            row = f"({', '.join('?' for _ in key)})"
            values = ", ".join(row for _ in chunk)
            query = f"WITH wanted({given}) AS (VALUES {values}) {select} JOIN wanted ON {on}"
            params = tuple(chain.from_iterable(chunk))
        # the DBAPI's own cursor: SQLAlchemy's result rows cost more than the look-up
        with closing(conn.connection.driver_connection.cursor()) as cursor:  # type: ignore[union-attr]
            stored = cursor.execute(query, params).fetchall()
        if not stored or not convert:
            yield from stored
            continue
        # a column at a time; every row has every column, so the zips need not check (a
        # strict zip of the rows costs as much again)
        columns_of = zip(*stored, strict=False)
        cells = [
            column if c is None else list(map(c, column))
            for column, c in zip(columns_of, converters, strict=True)
        ]
        yield from zip(*cells, strict=False)


def _selected(conn: sa.Connection, column: sa.Column[Any]) -> str:
    """``column`` as the query selects it: a PostgreSQL date as its ISO text, made by the
    server (whatever the session's ``DateStyle``), as SQLite stores it; others as stored."""
    if conn.dialect.name == "postgresql" and _is_date(_read_type(conn, column)):
        return f"""to_char(t."{column.name}", 'YYYY-MM-DD')"""
    return f't."{column.name}"'


def _read_type(conn: sa.Connection, column: sa.Column[Any]) -> Any:
    """``column``'s type as a value is read back: a decorator that changes nothing read
    (sqlmodel's AutoString) stands for the type it decorates."""
    kind = column.type
    if isinstance(kind, sa.TypeDecorator) and kind.result_processor(conn.dialect, None) is None:
        return kind.impl_instance
    return kind


def _is_date(kind: Any) -> bool:
    return isinstance(kind, sa.Date) and not isinstance(kind, sa.DateTime)


def canonical_converter(conn: sa.Connection, column: sa.Column[Any]) -> Converter:
    """What turns the value the driver returns for ``column`` (as :func:`_selected` selects
    it) into its canonical value; None when they are the same (text, numbers, enumeration
    values stored as text, dates as ISO text, JSON that psycopg decodes itself)."""
    sqlite = conn.dialect.name == "sqlite"
    kind = _read_type(conn, column)
    if isinstance(kind, sa.JSON):
        return _json_value if sqlite else None
    if isinstance(kind, sa.Boolean):
        return _bool_value if sqlite else None
    if _is_date(kind):
        return None  # ISO text: as SQLite stores it, as PostgreSQL's to_char makes it
    if isinstance(kind, sa.String | sa.Integer):  # sa.Enum is a String: its value's text
        return None
    processor = kind.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
    if processor is None:
        return canonical_value
    return lambda value: canonical_value(processor(value))


def _json_value(value: Any) -> Any:
    return None if value is None else json.loads(value)


def _bool_value(value: Any) -> Any:
    return None if value is None else bool(value)
