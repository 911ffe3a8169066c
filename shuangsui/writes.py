"""One write: a transaction of its own, tried again from the start when a concurrent writer
collided with it. Every write that can meet another goes through :func:`write`: a finding's
versions and signatures (``findings.service``), a publish's record of what it published
(``website.site``), an evidence file's row (``findings.evidence``), a lead's decisions
(``leads``), a token's issue and revocation (``api``), a round's commit and its draw
(``rounds.service``) and any append to the audit log (``rounds.audit.append``).

Concurrent writers of one finding queue on the lock, so each reads what the previous one
committed and decides again (the same version, a conflict, or a new row). What the lock cannot
cover is caught by unique keys: two first versions both inserting the finding, or two findings
appending to the audit chain at one head. The loser's commit fails; the work runs again from the
start and now sees the winner. A collision that keeps coming back ends as :class:`Conflict`, so a
caller never sees a database error for something another caller did.

SQLite has no row locks: ``BEGIN IMMEDIATE`` takes the database's write lock before the first
read. PostgreSQL locks the finding's row (``SELECT ... FOR UPDATE`` in the reads that follow).

A write outside the database (an inspector's draft, a file) that must not land once the writer is
refused takes its turn the same way: :func:`checked`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

from shuangsui.errors import Conflict

logger = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 10
# serialization_failure, deadlock_detected, lock_not_available
RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def lock_writes(session: Session) -> None:
    """Start the session's transaction as a writer (SQLite: the database's write lock, before
    anything is read). On PostgreSQL the reads lock the rows they will change."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def collided(exc: DBAPIError) -> bool:
    """A concurrent writer got there first (worth trying again), not a fault of the request."""
    if isinstance(exc, IntegrityError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    state = getattr(exc.orig, "sqlstate", None)
    return state in RETRY_SQLSTATES or "database is locked" in str(exc.orig)


def write(
    engine: Engine,
    work: Callable[[Session], T],
    *,
    what: str,
    allowed: Callable[[Session], None] | None = None,
    decided: Callable[[Session], T | None] | None = None,
    attempts: int = ATTEMPTS,
    gave_up: Callable[[str], Exception] | None = None,
) -> T:
    """Run ``work`` in a write transaction and commit; again from the start when a concurrent
    writer collided with it. ``work`` raises :class:`Conflict` when what it reads has moved on.

    ``allowed`` runs first in the transaction, before ``work``: whether the writer may still
    write (an inspector's link not revoked since the request was let in:
    ``api.inspector_tokens.still_open``). It raises to refuse, and nothing is written.

    ``decided`` runs after each collision, once the attempt is rolled back: the outcome the
    writer that won decided for this one (a concurrent commit of the same round:
    ``rounds.service.commit_round``), returned as it is, or None to try again.

    After ``attempts`` collisions in a row, ``gave_up`` makes the error to raise from the last
    one (its first line): a caller whose writer must hear more than :class:`Conflict` (a draw
    made and not recorded: ``rounds.service``) says so, and records what it must first."""
    collision = ""
    for attempt in range(1, attempts + 1):
        with Session(engine, expire_on_commit=False) as session:
            try:
                lock_writes(session)
                if allowed is not None:
                    allowed(session)
                result = work(session)
                session.commit()
                return result
            except DBAPIError as exc:
                session.rollback()
                if not collided(exc):
                    raise
                logger.info("%s: concurrent writer (attempt %d): %s", what, attempt, exc.orig)
                collision = _first_line(exc)
            # collided, and rolled back: the winner may have decided this writer's outcome
            if decided is not None and (outcome := decided(session)) is not None:
                return outcome
        if attempt < attempts:
            back_off(attempt)
    if gave_up is not None:
        raise gave_up(collision)
    raise Conflict(f"{what} is being changed by too many writers at once; read it and send again")


# The waits' own generator: a write retried in a server thread must not draw from the process's
# global one, which a caller in another thread may be using (Hypothesis, in the API's fuzz test,
# fails a test whose global random state moves under it while it draws: seen once, a
# HypothesisDeprecationWarning made an error)
_jitter = random.Random()


def back_off(attempt: int) -> None:
    """Let the winner finish: wait a random moment, growing with ``attempt`` (1, 2, ...).
    Writers that all tried again at once would keep colliding (four threads appending to the
    audit log on a loaded machine lost twenty times in a row with a fixed wait)."""
    time.sleep(_jitter.uniform(0, 0.005 * 2 ** min(attempt - 1, 7)))  # <= 0.64 s


def _first_line(exc: DBAPIError) -> str:
    """What the database said of a collision, without the statement and its parameters."""
    return str(exc.orig).splitlines()[0] if exc.orig else str(exc)


@contextmanager
def checked(engine: Engine, allowed: Callable[[Session], None]) -> Iterator[None]:
    """For a write outside the database (a file): ``allowed`` run as :func:`write` runs it, in a
    write transaction that stays open while the caller writes, then ends with nothing to commit.
    So what ``allowed`` locks against (a revocation: ``api.inspector_tokens.still_open``) either
    committed before, and refuses the write, or waits until the write is done. The caller writes
    nothing to the database meanwhile: on SQLite the transaction holds the database's write lock.
    """
    with Session(engine) as session:
        lock_writes(session)
        allowed(session)
        yield
