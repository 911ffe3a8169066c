"""``shuangsui.db.driver_rows``, which the publish's three large reads use (the check of every
version, the final versions, the drawn enterprises): the rows SQLAlchemy gives for the same
select, as tuples, on either database, with an expanded ``IN`` and an ``OR`` of them
(``of_rounds``), text of every kind, integers, NULL and a date cast to text; the rows the
connection's own transaction wrote and has not committed; a driver error raised as
SQLAlchemy's, naming the statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from shuangsui.db import driver_rows, of_rounds

META = sa.MetaData()
T = sa.Table(
    "driver_rows_probe",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("round_key", sa.String(64), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("day", sa.Date, nullable=False),
)
TEXTS = ["", "名称（福州）", "\"a\",'b'", "x\r\ny\t", "%s %(x)s ? :x", "\\", "😀", None]


@pytest.fixture
def probe(engine: sa.Engine) -> Iterator[sa.Engine]:
    META.create_all(engine)
    yield engine
    META.drop_all(engine)


def test_the_rows_sqlalchemy_gives(probe: sa.Engine) -> None:
    engine = probe
    rows = [
        {
            "id": i,
            "round_key": f"r-{i % 3}",
            "code": f"91{i:04d}",
            "text": text,
            "day": dt.date(2026, 12, 1) + dt.timedelta(days=i),
        }  # fmt: skip
        for i, text in enumerate(TEXTS * 3)
    ]
    with engine.begin() as conn:
        conn.execute(T.insert(), rows)
    q = (
        sa.select(T.c.round_key, T.c.code, T.c.id, T.c.text, sa.cast(T.c.day, sa.Text))
        .where(of_rounds(T.c.round_key, T.c.code, ["r-0", "r-2", "r-9"], {"r-2": {"910002"}}))
        .order_by(T.c.id)
    )
    with engine.connect() as conn:
        expected = [tuple(row) for row in conn.execute(q)]
        got = driver_rows(conn, q)
    assert got == expected
    assert [type(row) for row in got] == [tuple] * len(got)
    assert [row[2] for row in got] == [0, 2, 3, 6, 9, 12, 15, 18, 21]
    assert got[1][4] == "2026-12-03"  # a date as ISO text on either database
    assert [row[3] for row in got] == [TEXTS[row[2] % len(TEXTS)] for row in got]


def test_the_rows_of_the_transaction(probe: sa.Engine) -> None:
    with probe.connect() as conn:
        conn.execute(T.insert(), [{"id": 1, "round_key": "r", "code": "c", "day": dt.date.today()}])
        assert driver_rows(conn, sa.select(T.c.id, T.c.text)) == [(1, None)]
        conn.rollback()
        assert driver_rows(conn, sa.select(T.c.id)) == []
        assert conn.in_transaction()  # begun as a statement of its own would begin it


def test_a_driver_error_is_sqlalchemys(engine: sa.Engine) -> None:
    missing = sa.table("no_such_table", sa.column("x"))
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="no_such_table"):
        driver_rows(conn, sa.select(missing.c.x))
