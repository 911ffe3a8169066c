"""Appending in bulk gives the same log as one append at a time, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from draw import merkle
from exchange.log import NewEntry, append, append_many, head_of
from exchange.models import ExchangeEntry
from shuangsui.db import make_engine, one_of
from shuangsui.errors import NotFound

ORIGIN = "shuangsui.350000"


def _entries() -> list[NewEntry]:
    return [
        NewEntry(f"result/R/{i:018d}/RZ-01", "result", {"credit_code": f"{i:018d}", "n": i})
        for i in range(5)
    ] + [
        NewEntry(
            "correction/c1", "correction", {"n": 9}, supersedes="result/R/000000000000000002/RZ-01"
        )
    ]


def _log(engine: Engine) -> list[tuple[int, str, str, str | None]]:
    with Session(engine) as s:
        rows = s.exec(select(ExchangeEntry).order_by(ExchangeEntry.seq)).all()  # type: ignore[arg-type]
        return [(r.seq, r.entry_id, r.kind, r.supersedes) for r in rows]


def test_a_batch_is_the_same_log_as_one_append_each(engine: Engine) -> None:
    entries = _entries()
    with Session(engine) as s:
        append(s, origin=ORIGIN, entry_id="round/R", kind="round", body={"r": 1})
        rows = append_many(s, origin=ORIGIN, entries=entries + [entries[1]])  # a repeat
        seqs = [r.seq for r in rows]
        s.commit()
        size, root = head_of(s)
    assert seqs == [1, 2, 3, 4, 5, 6, 2]
    assert _log(engine)[-1] == (6, "correction/c1", "correction", entries[2].entry_id)
    with Session(engine) as s:  # the entries' own bytes, hashed by the RFC 6962 reference
        bodies = s.exec(select(ExchangeEntry.body).order_by(ExchangeEntry.seq)).all()  # type: ignore[arg-type]
    assert size == 7 and root == merkle.merkle_root([b.encode() for b in bodies])
    with Session(engine) as s:  # appending them again changes nothing
        again = [r.seq for r in append_many(s, origin=ORIGIN, entries=entries)]
        s.commit()
        assert again == [1, 2, 3, 4, 5, 6] and head_of(s) == (size, root)


def test_a_batch_naming_an_unknown_entry_appends_nothing(engine: Engine) -> None:
    bad = _entries()[:3] + [NewEntry("correction/x", "correction", {}, supersedes="result/nope")]
    with Session(engine) as s, pytest.raises(NotFound, match="result/nope"):
        append_many(s, origin=ORIGIN, entries=bad)
    assert _log(engine) == []


def test_one_of_is_in_on_both_databases(engine: Engine) -> None:
    ids = [e.entry_id for e in _entries()[:4]]
    with Session(engine) as s:
        append_many(s, origin=ORIGIN, entries=_entries()[:4])
        column = ExchangeEntry.__table__.c.entry_id  # type: ignore[attr-defined]
        query = select(column).where(one_of(s, column, [ids[0], ids[2], "result/nope"]))
        assert sorted(s.exec(query).all()) == [ids[0], ids[2]]  # type: ignore[call-overload]


@pytest.mark.postgres
def test_a_lookup_repeated_in_the_logs_transaction_is_planned_for_the_table_as_it_is(
    postgres_database: str,
) -> None:
    """Bulk work fills a table and looks it up in one transaction (the log appended a chunk
    at a time). A statement prepared on the server while the table was empty must not keep
    that moment's generic plan once the transaction has filled it (a scan testing each row
    against the array one element at a time): an append plans each execution for its own
    parameters and the table as it is (``plan_each_execution``), where the array is known
    and PostgreSQL probes the index or hashes it."""
    ids = "{" + ",".join(f"x{i}" for i in range(1000)) + "}"
    engine = make_engine(postgres_database)
    try:
        with Session(engine) as s:
            append_many(s, origin=ORIGIN, entries=[])  # nothing to append: nothing set
            assert s.execute(text("SHOW plan_cache_mode")).scalar() == "auto"
            append_many(s, origin=ORIGIN, entries=_entries()[:1])
            conn = s.connection()
            conn.exec_driver_sql("ANALYZE exchange_entry")  # the statistics of an empty log
            conn.exec_driver_sql(
                "PREPARE lookup(text[]) AS SELECT seq FROM exchange_entry WHERE entry_id = ANY($1)"
            )
            for _ in range(10):  # past the executions after which a generic plan may be kept
                conn.exec_driver_sql(f"EXECUTE lookup('{ids}')")
            conn.exec_driver_sql(
                "INSERT INTO exchange_entry (seq, entry_id, kind, body, leaf_hash, created_at) "
                "SELECT g, 'x' || g, 'result', repeat('a', 300), md5(g::text), now() "
                "FROM generate_series(1, 20000) g"
            )
            plan = conn.exec_driver_sql(f"EXPLAIN EXECUTE lookup('{ids}')").scalars().all()
            s.rollback()
            assert s.execute(text("SHOW plan_cache_mode")).scalar() == "auto"  # its transaction's
    finally:
        engine.dispose()
    assert not any("$1" in line for line in plan), plan  # a generic plan names its parameter
