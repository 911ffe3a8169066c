"""One sync of a partner at a time: a second sync of the same partner (the command run twice,
two runs of the sync-partners flow, a worker and a coordinator) waits for the first, then
resumes from the cursor the first moved; syncs of different partners run side by side.

The turn is taken where the partner's state lives, so every process syncing into one database
takes turns: PostgreSQL, a session-level advisory lock held on a connection of its own (it is
released when the turn ends, or with the connection if the process dies); SQLite, an ``flock``
on a file beside the database file (released by the kernel if the process dies)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from shuangsui.config import get_settings
from shuangsui.files import file_lock

logger = logging.getLogger(__name__)

LOCK_CLASS = 0x5353_5359  # "SSSY": the advisory locks of partner syncs (PostgreSQL)


def _waiting(code: str, on_wait: Callable[[], None] | None) -> None:
    """Say that the sync waits: the caller's ``on_wait`` tells the operator (the command, on
    stderr), and the log keeps it at INFO, so a terminal that shows warnings says it once."""
    message = "partner %s: another sync of it is running; waiting for it to end"
    if on_wait is None:
        logger.warning(message, code)
        return
    logger.info(message, code)
    on_wait()


@contextmanager
def partner_turn(
    engine: Engine, code: str, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold the turn to sync partner ``code`` until the block ends (see the module text).
    ``on_wait``: called once, before waiting, when another sync holds the turn (the CLI tells
    the operator, who would otherwise see a command that does nothing)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            with _advisory_lock(conn, code, lambda: _waiting(code, on_wait)):
                yield
        return
    with file_lock(_lock_file(engine, code), on_wait=lambda: _waiting(code, on_wait)):
        yield


@contextmanager
def _advisory_lock(conn: Connection, code: str, on_wait: Callable[[], None]) -> Iterator[None]:
    digest = hashlib.sha256(code.encode()).digest()
    key = {"c": LOCK_CLASS, "k": int.from_bytes(digest[:4], "big", signed=True)}
    if not conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"), key).scalar():
        on_wait()
        conn.execute(text("SELECT pg_advisory_lock(:c, :k)"), key)
    conn.commit()  # the lock outlives the transaction; no transaction is held open meanwhile
    try:
        yield
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"), key)
            conn.commit()
        except Exception:  # the lock must not go back to the pool with the connection
            conn.invalidate()
            raise


def _lock_file(engine: Engine, code: str) -> Path:
    database = engine.url.database
    if database and database != ":memory:":
        path = Path(database)
        return path.with_name(f"{path.name}.sync-{code}.lock")
    home = get_settings().home
    home.mkdir(parents=True, exist_ok=True)
    return home / f"sync-{code}.lock"
