"""Migrations go up and down on both databases, and the head matches the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

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
