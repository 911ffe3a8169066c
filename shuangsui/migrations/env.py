"""Alembic environment: runs shuangsui's migrations against the URL the caller configured.

All pending revisions run in one transaction (SQLite included, see ``shuangsui.db``), so a
killed migration leaves the schema as it was before it started. Migrators of one database take
turns: on SQLite ``BEGIN IMMEDIATE`` (``shuangsui.db.migration_engine``), on PostgreSQL an
advisory lock taken before the schema version is read, so the second reads what the first
committed (two commands started at once on a new database: the second finds it at head).
"""

from __future__ import annotations

from alembic import context
from alembic.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection, pool, text
from sqlmodel import SQLModel

import shuangsui.models  # noqa: F401  (registers every table on SQLModel.metadata)
from shuangsui.db import migration_engine
from shuangsui.files import kill_point

config = context.config
target_metadata = SQLModel.metadata
LOCK_KEY = 0x5353_4D47  # "SSMG": the advisory lock of a migration (PostgreSQL)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _applied(ctx: MigrationContext, step: MigrationInfo, heads: object, run_args: object) -> None:
    kill_point("migration", str(step.up_revision_id))  # crash tests: killed mid-migration


def _take_turn(connection: Connection) -> None:
    """Wait for any other migrator of this database to commit (PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` has already waited), in the migration's transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = migration_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            transactional_ddl=True,
            transaction_per_migration=False,
            on_version_apply=_applied,
        )
        with context.begin_transaction():
            _take_turn(connection)
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
