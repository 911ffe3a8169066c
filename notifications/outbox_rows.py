"""Outbox rows written as plain tuples: one ``executemany`` through the session's connection,
in its transaction (never committing); on PostgreSQL, a round's first messages by ``COPY``.

Each value is encoded by its column's own type, as an insert through the table encodes it (the
enumerations' text, the payload's JSON, the timestamps: on SQLite the text SQLAlchemy formats),
so the stored bytes are the same. What this leaves out is SQLAlchemy's work per row: a dict per
row, and every column's processor on every row (a round's 15,000 rows share their status,
attempts and the two timestamps, encoded here once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from notifications.messages import Outgoing
from notifications.models import Notification, NotificationStatus
from shuangsui.db import bind_processor, insert_rows, once_per_object

TABLE: sa.Table = Notification.__table__  # type: ignore[attr-defined]
# What each message gives, then what every row of one write shares.
MESSAGE_COLUMNS = ("idempotency_key", "round_key", "kind", "recipient", "channel", "address",
                   "language", "subject", "body", "payload")  # fmt: skip
SHARED_COLUMNS = ("status", "attempts", "next_attempt_at", "created_at")
# The message's text columns have no bind processor on SQLite or psycopg (a test checks): the
# driver takes the text as it is. kind, channel and payload go through their types' processors.
ENCODED = ("kind", "channel", "payload")
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE
_MARK = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # sqlite3; psycopg


def insert(
    session: Session, messages: Sequence[Outgoing], now: datetime, *, new_round: bool = False
) -> None:
    """Insert one row per message (status pending, due ``now``); a key already present is
    skipped by the database (``ON CONFLICT DO NOTHING``), as a concurrent writer may add one.

    ``new_round``: the messages' round had no row in the outbox when the caller looked (the
    draw's). On PostgreSQL they go by ``COPY`` in a savepoint, which spares the server the
    conflict check of every row and the client a statement per row (a third of the notices
    hook of a 200,000-enterprise draw, docs/benchmarks.md); a key a concurrent writer added
    since is a unique violation there, and the rows then go again by the statement that
    skips it."""
    conn = session.connection()
    kind, channel, payload = (encoder(conn.dialect, name) for name in ENCODED)
    # a write's messages share a few kinds and channels: each encoded once (an enumeration's
    # processor costs a microsecond a value, 0.03 s of a 15,000-message draw's two columns)
    kind, channel = once_per_object(kind), once_per_object(channel)
    shared = tuple(
        encoder(conn.dialect, name)(value)
        for name, value in zip(
            SHARED_COLUMNS, (NotificationStatus.pending, 0, now, now), strict=True
        )
    )
    rows = [
        (m.idempotency_key, m.round_key, kind(m.kind), m.recipient, channel(m.channel),
         m.address, m.language, m.subject, m.body, payload(m.payload), *shared)
        for m in messages
    ]  # fmt: skip
    if new_round and conn.dialect.name == "postgresql" and _copied(conn, rows):
        return
    conn.exec_driver_sql(statement(conn.dialect), rows)


def _copied(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> bool:
    """``rows`` by ``COPY``; False, and nothing written, if a key was already there."""
    try:
        with conn.begin_nested():
            insert_rows(conn, TABLE, MESSAGE_COLUMNS + SHARED_COLUMNS, rows)
    except sa.exc.IntegrityError as exc:  # the driver's UniqueViolation, raised by the copy
        if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        return False
    return True


def encoder(dialect: sa.Dialect, name: str) -> Callable[[Any], Any]:
    """Column ``name``'s bind processor on ``dialect``, or the value as it is when it has none."""
    return bind_processor(TABLE.c[name], dialect) or _as_it_is


def _as_it_is(value: Any) -> Any:
    return value


def statement(dialect: sa.Dialect) -> str:
    columns = MESSAGE_COLUMNS + SHARED_COLUMNS
    marks = ", ".join([_MARK[dialect.paramstyle]] * len(columns))
    return (
        f"INSERT INTO {TABLE.name} ({', '.join(columns)}) VALUES ({marks})"
        " ON CONFLICT (idempotency_key) DO NOTHING"
    )
