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
