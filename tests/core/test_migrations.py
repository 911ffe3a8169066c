"""Migrations go up and down on both databases, and the head matches the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel, col, select

from shuangsui import db


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_down_and_up_again(db_url: str) -> None:
    expected = {t.name for t in SQLModel.metadata.sorted_tables}
    assert _tables(db_url) == expected
    db.downgrade(db_url, "base")
    assert _tables(db_url) == set()
    db.migrate(db_url)
    assert _tables(db_url) == expected


def test_head_schema_matches_the_models(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    engine.dispose()
    assert diff == [], f"models and migrations differ: write a migration for {diff}"


def test_0019_a_replacements_date_goes_down_with_its_column_and_comes_back(db_url: str) -> None:
    """Down to 0018 the column goes and the replacements stay; up again each date is read back
    from its ``MemberReplaced`` event, so ``round verify`` still finds row and event agree."""
    import datetime as dt

    from rounds import bundle
    from rounds.models import TeamChange
    from rounds.replacements import bureau_today, replace_member
    from tests.findings.factories import ROUND, drawn_round

    engine = db.make_engine(db_url)
    try:
        drawn = drawn_round(engine)
        first, second = sorted(drawn)[:2]
        new_date = bureau_today() + dt.timedelta(days=9)
        replace_member(engine, ROUND, first, drawn[first][0], cause="conflict", note="回避",
                       recorded_by="李", due_on=new_date)  # fmt: skip
        replace_member(engine, ROUND, second, drawn[second][0], cause="conflict", note="回避",
                       recorded_by="李")  # fmt: skip
        engine.dispose()
        db.downgrade(db_url, "0018")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("team_change")}
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT n FROM team_change ORDER BY n")).scalars().all()
        engine.dispose()
        assert "due_on" not in columns and kept == [1, 2]
        db.migrate(db_url)
        with Session(engine) as s:
            rows = s.exec(select(TeamChange).order_by(col(TeamChange.n))).all()
            assert [r.due_on for r in rows] == [new_date, None]
        bundle.recompute(engine, ROUND)
    finally:
        engine.dispose()


def test_0020_a_new_date_goes_down_with_its_table_and_comes_back(db_url: str) -> None:
    """Down to 0019 the ``due_change`` table goes (the assignments keep their dates); up again
    each row is read back from its ``DueDateMoved`` event, so ``round verify`` still finds the
    dates, the rows and the events agree."""
    import datetime as dt

    from rounds import bundle
    from rounds.models import DueChange
    from rounds.redates import move_due_date
    from tests.findings.factories import ROUND, drawn_round

    engine = db.make_engine(db_url)
    try:
        drawn = drawn_round(engine)
        first, second = sorted(drawn)[:2]
        move_due_date(engine, ROUND, first, due_on=dt.date(2027, 1, 29), reason="企业停业",
                      recorded_by="李")  # fmt: skip
        move_due_date(engine, ROUND, second, due_on=dt.date(2027, 2, 26), reason="等待检测",
                      recorded_by="王")  # fmt: skip
        with Session(engine) as s:
            before = [r.model_dump() for r in s.exec(select(DueChange).order_by(col(DueChange.n)))]
        engine.dispose()
        db.downgrade(db_url, "0019")
        assert "due_change" not in _tables(db_url)
        db.migrate(db_url)
        with Session(engine) as s:
            after = [r.model_dump() for r in s.exec(select(DueChange).order_by(col(DueChange.n)))]
        assert after == before and len(after) == 2
        bundle.recompute(engine, ROUND)
    finally:
        engine.dispose()
