"""The count of entries kept unread (``exchange.apply.kept_unread``): right whatever the
database's collation (CI's PostgreSQL collates by zh-CN, where "?" may sort by the letters after
it), and read on PostgreSQL through the index of those rows (migration 0025), where it read the
whole ``partner_entry`` table: 30 ms at 200,000 entries, at every ``partners status`` and
partners page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from exchange.apply import kept_unread
from exchange.models import PartnerEntry

KINDS = {  # partner -> kinds of its entries, in order; "?" marks one kept unread
    "310000": ["result", "?a", "?z", "round", "?a", "?entropy-attestation", "correction"],
    "320000": ["retraction", "assistance-request", "?z", "result"],
    "330000": ["result", "round"],  # nothing kept unread: not named
}


def test_the_count_is_right_and_read_through_the_index(engine: sa.Engine) -> None:
    with Session(engine) as s:
        for code, kinds in KINDS.items():
            for seq, kind in enumerate(kinds):
                s.add(PartnerEntry(partner_code=code, seq=seq, entry_id=f"{code}/{seq}",
                                   kind=kind, body="{}", leaf_hash="0" * 64,
                                   applied_at=dt.datetime(2026, 12, 6, tzinfo=dt.UTC)))  # fmt: skip
        s.commit()
        assert kept_unread(s) == {
            "310000": {"a": 2, "z": 1, "entropy-attestation": 1},
            "320000": {"z": 1},
        }
    if engine.dialect.name != "postgresql":
        return
    # the statement as run, explained: the index of the rows kept unread, not the table
    statements: list[tuple[str, Any]] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as s:
            kept_unread(s)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    (statement, parameters), *_ = [x for x in statements if "count(" in x[0]]
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a few rows: else the table
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "ix_partner_entry_unread" in plan, plan
