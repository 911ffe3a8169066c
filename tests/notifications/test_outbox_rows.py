"""Outbox rows written as tuples store the bytes an insert through the table stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlmodel import Session

from notifications import outbox_rows
from notifications.messages import Outgoing
from notifications.models import Channel, NotificationKind

NOW = datetime(2026, 12, 1, 17, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), psycopg.dialect()], ids=["sqlite", "pg"])
def test_the_text_columns_go_to_the_driver_as_they_are(dialect: sa.Dialect) -> None:
    """Only kind, channel and payload are encoded per row (and the shared columns once): the
    others must have no bind processor, or the tuples would skip one."""
    for name in outbox_rows.MESSAGE_COLUMNS:
        column = outbox_rows.TABLE.c[name]
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        assert (processor is None) == (name not in outbox_rows.ENCODED), name


def test_a_row_written_as_a_tuple_is_the_row_the_table_insert_writes(engine: sa.Engine) -> None:
    message = Outgoing(
        idempotency_key="a" * 64, round_key="R1", kind=NotificationKind.assignment,
        recipient="I1", channel=Channel.dingtalk, address="https://h.cn/1?x='1'",
        language="en-GB", subject="【检查任务通知】甲{0}公司", body="正文 %s %(x)s\n",
        payload={"kind": "assignment", "enterprise_name": "甲公司", "n": 3, "list": [1, "二"],
                 "none": None},
    )  # fmt: skip
    twin = replace(message, idempotency_key="b" * 64)
    with Session(engine) as session:
        outbox_rows.insert(session, [message], NOW)
        fields = {name: getattr(twin, name) for name in outbox_rows.MESSAGE_COLUMNS}
        shared = {"status": "pending", "attempts": 0, "next_attempt_at": NOW, "created_at": NOW}
        session.execute(sa.insert(outbox_rows.TABLE), [{**fields, **shared}])
        outbox_rows.insert(session, [message], NOW)  # already there: skipped, no error
        session.commit()
    columns = [c.name for c in outbox_rows.TABLE.columns if c.name not in ("id", "idempotency_key")]
    as_text = ", ".join(f"CAST({c} AS TEXT)" for c in columns)
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text(f"SELECT {as_text} FROM notification ORDER BY id")))
    assert len(rows) == 2 and rows[0] == rows[1]


def _statements(engine: sa.Engine) -> list[str]:
    """The SQL the engine's connections send from now on (a COPY goes by the driver's own
    cursor and is not among them)."""
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    return sent


def test_a_new_rounds_rows_are_copied_and_stored_as_the_statement_stores_them(
    engine: sa.Engine,
) -> None:
    """The draw's messages (``new_round``) go by COPY on PostgreSQL, byte for byte the rows
    the statement writes; on SQLite by the statement."""
    message = Outgoing(
        idempotency_key="c" * 64, round_key="R1", kind=NotificationKind.assignment,
        recipient="I1", channel=Channel.email, address="a@b.cn", language="zh",
        subject="【检查任务通知】甲\\公司\t", body="正文\n\\N 第二行\r\n",
        payload={"enterprise_name": "甲\\公司", "n": 3, "none": None},
    )  # fmt: skip
    sent = _statements(engine)
    with Session(engine) as session:
        outbox_rows.insert(session, [message], NOW, new_round=True)
        copied = [s for s in sent if "ON CONFLICT" in s]
        outbox_rows.insert(session, [replace(message, idempotency_key="d" * 64)], NOW)
        session.commit()
    assert len(copied) == (0 if engine.dialect.name == "postgresql" else 1), copied
    columns = [c.name for c in outbox_rows.TABLE.columns if c.name not in ("id", "idempotency_key")]
    as_text = ", ".join(f"CAST({c} AS TEXT)" for c in columns)
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text(f"SELECT {as_text} FROM notification ORDER BY id")))
    assert len(rows) == 2 and rows[0] == rows[1]
    assert rows[0][columns.index("body")] == message.body


def test_a_key_a_concurrent_writer_added_is_skipped_by_a_new_rounds_write(
    engine: sa.Engine,
) -> None:
    """A round seen empty may meet a key written since (another process queuing the same
    round): the COPY's unique violation is undone to its savepoint and the rows go again by
    the statement that skips that key; the transaction goes on."""
    first, second = (
        Outgoing(idempotency_key=k * 64, round_key="R1", kind=NotificationKind.assignment,
                 recipient="I1", channel=Channel.email, address="a@b.cn", language="zh",
                 subject=f"主题{k}", body="正文\n", payload={"k": k})
        for k in "ef"
    )  # fmt: skip
    with Session(engine) as session:
        outbox_rows.insert(session, [first], NOW)  # the other writer's row
        sent = _statements(engine)
        outbox_rows.insert(session, [first, second], NOW, new_round=True)
        session.commit()
    if engine.dialect.name == "postgresql":
        assert any(s.startswith("ROLLBACK TO SAVEPOINT") for s in sent), sent
    assert any("ON CONFLICT" in s for s in sent), sent
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT idempotency_key, subject FROM notification"))
        assert sorted(stored) == [("e" * 64, "主题e"), ("f" * 64, "主题f")]
