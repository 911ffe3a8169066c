"""A sync whose turn cannot be given back once it ended says what the sync did.

The turn (``exchange.turns``: on PostgreSQL an advisory lock held on a connection of its own)
is given back after the sync committed and recorded its outcome. If that failed (the turn's
connection ended by the server: a restart, ``idle_session_timeout``, an administrator), the
fault was taken for the sync's: ``partners sync`` printed ``310000 ERROR: OperationalError:
…`` and exited 1, and ``partner_state`` said ``error`` (本局系统故障) of a sync whose entries
were applied, until the next sync. Now the outcome stands, and the fault is logged.

The fault is real: a trigger of Fujian's own database ends the backend that holds the turn as
the sync moves the cursor. Shanghai is a ``shuangsui serve`` process. PostgreSQL only: on
SQLite the turn is a file's ``flock``, given back by closing the file, which nothing outside
the process can make fail."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from exchange.models import PartnerEntry, PartnerState
from exchange.turns import LOCK_CLASS
from tests.exchange import test_entry_kinds_said as kinds_said
from tests.exchange.bureaus import publish
from tests.exchange.test_entry_kinds_said import A, B, Trio

trio = kinds_said.trio  # Shanghai and Jiangsu, real servers; Fujian the configured bureau

# Ends (and waits up to 5 s for the end of) the backend holding a sync's turn, when the sync
# moves the cursor: after that, the sync's transaction commits as before. Only in this test's
# own database: another test's sync on the same server (a parallel worker) keeps its turn.
END_THE_TURN = f"""
CREATE OR REPLACE FUNCTION end_the_turn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.size <> OLD.size THEN
    PERFORM pg_terminate_backend(pid, 5000) FROM pg_locks
      WHERE locktype = 'advisory' AND classid = {LOCK_CLASS} AND granted
        AND pid <> pg_backend_pid()
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database());
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS end_the_turn ON partner_state;
CREATE TRIGGER end_the_turn BEFORE UPDATE ON partner_state FOR EACH ROW
  EXECUTE FUNCTION end_the_turn();
"""


def _mend(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS end_the_turn ON partner_state")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS end_the_turn()")


@pytest.fixture
def turn_ended(trio: Trio) -> Iterator[sa.Engine]:
    engine = trio.fj_engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's turn is a file lock, given back by closing the file")
    with engine.begin() as conn:
        conn.exec_driver_sql(END_THE_TURN)
    try:
        yield engine
    finally:
        _mend(engine)  # the PostgreSQL database is the test's, but mended all the same


def _sync(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shuangsui", "partners", "sync", code],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.slow
def test_a_turn_lost_after_the_sync_leaves_the_syncs_outcome_said(
    trio: Trio, turn_ended: sa.Engine
) -> None:
    t = trio
    publish(t.sh, A, n=0)
    proc = _sync("310000")
    assert (proc.returncode, proc.stdout) == (0, "310000 ok: 0 -> 1 (1 new)\n"), proc.stderr
    lost = (
        "partner 310000: its sync ended (ok) but its turn could not be given back: "
        "OperationalError: terminating connection due to administrator command"
    )
    assert lost in proc.stderr, proc.stderr
    with Session(turn_ended) as s:
        state = s.get(PartnerState, "310000")
        held = s.exec(select(func.count()).where(PartnerEntry.partner_code == "310000")).one()
    assert state is not None and held == 1
    assert (state.size, state.status, state.last_error) == (1, "ok", None)
    assert state.last_success_at == state.last_attempt_at
    status = t.run("partners", "status")
    assert "310000 局310000: ok, cursor 1" in status and "why:" not in status, status

    # the lock went with its connection: the next sync takes the turn without waiting
    _mend(turn_ended)
    publish(t.sh, B, n=1)
    proc = _sync("310000")
    assert (proc.returncode, proc.stdout) == (0, "310000 ok: 1 -> 2 (1 new)\n"), proc.stderr
    assert "waiting for it to end" not in proc.stderr
    assert "could not be given back" not in proc.stderr
