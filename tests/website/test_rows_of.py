"""The look-ups a publish makes of what it records and shares (shuangsui.db.rows_of): the rows
whose key is one of the values, a chunk of values a statement, on SQLite (the DBAPI) and
PostgreSQL (one JSON array of texts or integers a statement) alike."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from exchange.models import ExchangeEntry
from shuangsui.db import rows_of

AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
TABLE = ExchangeEntry.__table__  # type: ignore[attr-defined]


def _entries(conn: sa.Connection, ids: list[str]) -> None:
    """Log entries of these ids, numbered from 0 in their order."""
    conn.execute(TABLE.insert(), [
        {"seq": i, "entry_id": entry_id, "kind": "result", "supersedes": None, "body": "{}",
         "leaf_hash": f"{i:064x}", "created_at": AT}
        for i, entry_id in enumerate(ids)
    ])  # fmt: skip


def test_the_rows_of_keys_across_chunks(engine: sa.Engine) -> None:
    ids = [f"result/r-{i}/9135{i:014d}/CCC-01" for i in range(7)]
    with engine.begin() as conn:
        _entries(conn, ids)
        asked = [ids[6], "result/nope", ids[0], ids[3], ids[4], "o'; DROP TABLE x; --", ids[6]]
        found = rows_of(conn, TABLE, ("entry_id", "seq"), "entry_id", asked, chunk=3)
        assert sorted(map(tuple, found)) == [(ids[i], i) for i in (0, 3, 4, 6, 6)]
        assert rows_of(conn, TABLE, ("seq",), "entry_id", []) == []
        assert sorted(rows_of(conn, TABLE, ("seq",), "seq", [5, 1, 99], chunk=2)) == [(1,), (5,)]


def test_texts_json_escapes_and_integers_are_found_as_they_are(engine: sa.Engine) -> None:
    """PostgreSQL takes a chunk of texts or integers as one JSON array: each text is found as
    it is whatever JSON escapes in it (a quote, a backslash, a tab, a line break, text that
    is JSON itself or SQL's placeholders), none other; integers likewise."""
    ids = ['result/"quoted"', "result/back\\slash", "result/tab\there", "result/line\nbreak",
           '["result/json"]', "result/%s ? :p", "result/企业😀", "result/\u2028"]  # fmt: skip
    with engine.begin() as conn:
        _entries(conn, ids)
        near = ['result/"quoted', "result/back\\\\slash", "result/json", "result/%s", "result/企业"]
        found = rows_of(conn, TABLE, ("entry_id", "seq"), "entry_id", [*near, *ids], chunk=4)
        assert sorted(map(tuple, found)) == sorted((entry_id, i) for i, entry_id in enumerate(ids))
        seqs = rows_of(conn, TABLE, ("seq",), "seq", [7, 0, -1, 99, 3], chunk=3)
        assert sorted(map(tuple, seqs)) == [(0,), (3,), (7,)]
