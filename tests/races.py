"""A write and something else at once (a revocation, say), the interleaving forced. Either the
write is held where it waits after its guard let it in and before it writes, while the other
thing is done (``held_while``), or the write is held inside its transaction just after it
checked, while the other thing is started and must wait for the write's lock
(``held_until_blocked``, PostgreSQL). A write that never reaches the point it is to be held at,
or another thing that does not wait, fails the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlmodel import Session

T = TypeVar("T")


def held_while(
    monkeypatch: pytest.MonkeyPatch,
    at: tuple[ModuleType, str],
    send: Callable[[], T],
    *,
    meanwhile: Callable[[], object],
) -> T:
    """``send()`` in a thread, held on its first call of ``at`` (a module and the name of a
    function in it) until ``meanwhile()`` has returned in the calling thread; what ``send()``
    returned."""
    module, name = at
    reached, go = threading.Event(), threading.Event()
    real = getattr(module, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        if not reached.is_set():
            reached.set()
            assert go.wait(60), "the test never let the write go on"
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(send)
        try:
            assert reached.wait(30), f"the request never reached its write ({name})"
            meanwhile()
        finally:
            go.set()
        return sent.result(60)


def _waiting_for_locks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def assert_blocked(engine: sa.Engine, pending: Future[Any], message: str) -> None:
    """Wait (30 s at most) until ``pending`` waits for a lock in PostgreSQL, the only session of
    the database that does; ``message`` if it ended instead."""
    deadline = time.monotonic() + 30
    while not pending.done() and _waiting_for_locks(engine) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pending.done(), message
    assert _waiting_for_locks(engine) == 1


def held_until_blocked(
    engine: sa.Engine,
    write: Callable[[Callable[[Session], None]], T],
    check: Callable[[Session], None],
    *,
    meanwhile: Callable[[], object],
    message: str,
) -> T:
    """``write(allowed)`` in a thread, held inside its transaction once ``allowed`` has run
    ``check``, while ``meanwhile()`` is started in another thread; once that waits for the
    write's lock (``assert_blocked``, ``message`` if it ended instead) the write goes on. What
    the write returned; ``meanwhile()`` has ended too."""
    checked, go = threading.Event(), threading.Event()

    def checks_then_waits(session: Session) -> None:
        check(session)
        checked.set()
        assert go.wait(60), "the test never let the write go on"

    with ThreadPoolExecutor(2) as pool:
        written = pool.submit(write, checks_then_waits)
        try:
            assert checked.wait(30), "the write never checked"
            other = pool.submit(meanwhile)
            assert_blocked(engine, other, message)
        finally:
            go.set()
        result = written.result(60)
        other.result(60)
    return result
