"""The audit log is append-only and hash-chained; any edit or gap is caught and named."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from rounds import audit
from rounds.models import AuditEvent
from shuangsui.errors import IntegrityError as ChainBroken


def _events(engine: sa.Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return audit.load_chain(session)


def test_chain_verifies_and_catches_an_edit(engine: sa.Engine) -> None:
    for i in range(5):
        audit.append(engine, f"r{i}", audit.DrawFailed(reason="infeasible", error=f"e{i}"))
    rows = _events(engine)
    assert audit.verify_chain(rows) == 5
    with engine.begin() as conn:
        conn.execute(
            sa.update(AuditEvent).where(AuditEvent.seq == 3).values(payload='{"error":"x"}')
        )
    with pytest.raises(ChainBroken, match="event 3 .*altered"):
        audit.verify_chain(_events(engine))


def test_chain_catches_a_deleted_event(engine: sa.Engine) -> None:
    for i in range(3):
        audit.append(engine, "r", audit.EntropyAwaited(reason=f"w{i}"))
    with engine.begin() as conn:
        conn.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 2))
    with pytest.raises(ChainBroken, match="seq 2"):
        audit.verify_chain(_events(engine))


def test_concurrent_appends_never_fork_the_chain(engine: sa.Engine) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                audit.append(engine, f"w{n}", audit.EntropyAwaited(reason=str(i)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = _events(engine)
    assert audit.verify_chain(rows) == 40
