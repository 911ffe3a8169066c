"""The look-ups a publish makes of what it records and shares (shuangsui.db.rows_of): the rows
whose key is one of the values, a chunk of values a statement, on SQLite (the DBAPI) and
PostgreSQL (one array a statement) alike."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from exchange.models import ExchangeEntry
from shuangsui.db import rows_of

AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_the_rows_of_keys_across_chunks(engine: sa.Engine) -> None:
    table = ExchangeEntry.__table__  # type: ignore[attr-defined]
    ids = [f"result/r-{i}/9135{i:014d}/CCC-01" for i in range(7)]
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            {"seq": i, "entry_id": entry_id, "kind": "result", "supersedes": None,
             "body": "{}", "leaf_hash": f"{i:064x}", "created_at": AT}
            for i, entry_id in enumerate(ids)
        ])  # fmt: skip
        asked = [ids[6], "result/nope", ids[0], ids[3], ids[4], "o'; DROP TABLE x; --", ids[6]]
        found = rows_of(conn, table, ("entry_id", "seq"), "entry_id", asked, chunk=3)
        assert sorted(map(tuple, found)) == [(ids[i], i) for i in (0, 3, 4, 6, 6)]
        assert rows_of(conn, table, ("seq",), "entry_id", []) == []
        assert sorted(rows_of(conn, table, ("seq",), "seq", [5, 1, 99], chunk=2)) == [(1,), (5,)]
