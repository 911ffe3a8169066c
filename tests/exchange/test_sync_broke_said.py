"""A partner's sync that breaks on a fault not the partner's (a bug, our own database) is said
where people look: ``partner_state`` records it, so ``partners status``, ``partners view``
and the workspace's partners page say it, with the time, until a sync succeeds; the
``sync-partners`` flow records it as the command does, and its run fails.

Before, ``partners sync`` printed ``<code> ERROR: ...`` and exited 1, and the sync was undone
whole, but the partner's status still said the last outcome (``ok``, from the sync before):
every page showed a healthy partner whose results had stopped arriving. The fault here is
real: a trigger of Fujian's own database refuses Shanghai's entries (``RAISE(ABORT)`` on
SQLite, a ``disk_full`` error on PostgreSQL); Shanghai and Jiangsu are ``shuangsui serve``
processes."""

from __future__ import annotations

import datetime as dt
import html
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from exchange.models import PartnerEntry, PartnerState
from shuangsui.clock import local_label
from tests.exchange import test_entry_kinds_said as kinds_said
from tests.exchange.bureaus import publish
from tests.exchange.test_entry_kinds_said import A, B, C, Trio, both_synced, fujian_served

trio = kinds_said.trio  # Shanghai and Jiangsu, real servers; Fujian the configured bureau

# the database's words: a terminal escape, a right-to-left override, 400 more characters and
# a second line; recorded and printed on one line, each such character replaced, cut at 300
WORDS = "disk quota of 310000 \x1b[31m\u202e" + "x" * 400 + "\nsecond line"
SAID = ("disk quota of 310000 \ufffd[31m\ufffd" + "x" * 400)[:300] + "…"
FAULT = {"sqlite": "IntegrityError", "postgresql": "OperationalError"}


class Refusals:
    """Triggers of our own database that refuse a write to a table; each dropped by
    :meth:`mend`, and every one left at the test's end (the PostgreSQL database is shared)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.tables = engine, set[str]()

    def refuse(self, table: str, when: str, words: str, code: str = "disk_full") -> None:
        """Refuse a write to ``table`` (``when``: a condition on NEW) with ``words``."""
        op = "INSERT" if table == "partner_entry" else "UPDATE"
        if self.engine.dialect.name == "sqlite":
            sql = (f"CREATE TRIGGER refuse_{table} BEFORE {op} ON {table} WHEN {when} "
                   f"BEGIN SELECT RAISE(ABORT, '{words}'); END")  # fmt: skip
        else:
            sql = (f"CREATE OR REPLACE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE "
                   f"plpgsql AS $$ BEGIN IF {when} THEN RAISE EXCEPTION '{words}' USING "
                   f"ERRCODE = '{code}'; END IF; RETURN NEW; END $$; DROP TRIGGER IF EXISTS "
                   f"refuse_{table} ON {table}; CREATE TRIGGER refuse_{table} BEFORE {op} "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}()")  # fmt: skip
        with self.engine.begin() as conn:
            conn.exec_driver_sql(sql)
        self.tables.add(table)

    def mend(self, table: str) -> None:
        postgresql = self.engine.dialect.name == "postgresql"
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS refuse_{table}"
                                 + (f" ON {table}" if postgresql else ""))  # fmt: skip
            if postgresql:
                conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS refuse_{table}()")
        self.tables.discard(table)


@pytest.fixture
def refusals(trio: Trio) -> Iterator[Refusals]:
    made = Refusals(trio.fj_engine)
    yield made
    for table in list(made.tables):
        made.mend(table)


def _state(t: Trio, code: str) -> PartnerState:
    with Session(t.fj_engine) as s:
        state = s.get(PartnerState, code)
    assert state is not None
    return state


def _sync_all(t: Trio) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shuangsui", "partners", "sync"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.slow
def test_a_sync_that_breaks_is_recorded_until_one_succeeds(trio: Trio, refusals: Refusals) -> None:
    t = trio
    both_synced(t)
    synced = _state(t, "310000").last_success_at
    publish(t.sh, C, n=1)
    refusals.refuse("partner_entry", "NEW.partner_code = '310000'", WORDS)

    proc = _sync_all(t)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    why = f"{FAULT[t.fj_engine.dialect.name]}: {SAID}"
    assert proc.stdout.splitlines() == [f"310000 ERROR: {why}", "320000 ok: 1 -> 1 (0 new)"]
    assert "Traceback" in proc.stderr and "sync of partner 310000 stopped" in proc.stderr
    # undone whole, and recorded: the status says why, with the time; the last ok stays
    sh = _state(t, "310000")
    assert (sh.size, sh.status, sh.last_error, sh.last_success_at) == (1, "error", why, synced)
    assert sh.last_attempt_at is not None and synced is not None
    assert sh.last_attempt_at > synced
    with Session(t.fj_engine) as s:
        held = s.exec(select(func.count()).where(PartnerEntry.partner_code == "310000")).one()
    assert held == 1

    tried = local_label(sh.last_attempt_at)
    status = t.run("partners", "status")
    assert f"310000 局310000: error, cursor 1, witnessed 2, last ok {local_label(synced)}, " \
        f"last try {tried}\n    why: {why}\n" in status, status  # fmt: skip
    view = json.loads(t.run("partners", "view", C))
    assert view["synced"]["310000"] == {"status": "error", "last_ok": local_label(synced),
                                        "last_try": tried, "why": why}  # fmt: skip
    assert view["synced"]["320000"]["status"] == "ok" and view["synced"]["320000"]["why"] is None
    with fujian_served(t) as (_url, partners_page):
        row = _row(partners_page())
        assert "<strong>同步出错（本局系统故障）</strong>" in row
        assert f'<span class="fault">{html.escape(why)}</span><br><small>{tried}</small>' in row

        # the fault mended, the next sync takes the entry and clears the record
        refusals.mend("partner_entry")
        assert t.run("partners", "sync", "310000").splitlines() == ["310000 ok: 1 -> 2 (1 new)"]
        sh = _state(t, "310000")
        assert (sh.size, sh.status, sh.last_error) == (2, "ok", None)
        assert "    why:" not in t.run("partners", "status")
        row = _row(partners_page())
    assert "<strong>正常</strong>" in row and "<td>—</td>" in row and "fault" not in row


def _row(page: str) -> str:
    return page.split('id="p-310000"', 1)[1].split("</tr>", 1)[0]


@pytest.mark.slow
def test_a_record_that_fails_too_leaves_the_first_fault_said(
    trio: Trio, refusals: Refusals
) -> None:
    """The database refuses the record as well (as one that went down would): the line and
    the exit status still say the sync's own fault; the record's is in the log."""
    t = trio
    publish(t.sh, A, n=0)
    refusals.refuse("partner_entry", "NEW.partner_code = '310000'", "disk quota of 310000")
    gone = "the server is gone"
    refusals.refuse("partner_state", "NEW.status = 'error'", gone, code="admin_shutdown")
    proc = subprocess.run([sys.executable, "-m", "shuangsui", "partners", "sync", "310000"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    fault = FAULT[t.fj_engine.dialect.name]
    (line,) = proc.stdout.splitlines()  # PostgreSQL's second line: CONTEXT: PL/pgSQL ...
    assert line.startswith(f"310000 ERROR: {fault}: disk quota of 310000"), line
    assert "partner 310000: its failed sync could not be recorded" in proc.stderr
    assert gone in proc.stderr and gone not in line, proc.stderr
    assert (_state(t, "310000").status, _state(t, "310000").size) == ("never", 0)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_records_it_as_the_command_does_and_its_run_fails(
    trio: Trio, refusals: Refusals
) -> None:
    """The flow's task raised, the flow stopped at it, and nothing was recorded."""
    from flows.sync_partners import SyncBroke, sync_partners

    t = trio
    publish(t.sh, A, n=0)
    publish(t.js, B, n=0)
    refusals.refuse("partner_entry", "NEW.partner_code = '310000'", WORDS)
    before = dt.datetime.now(dt.UTC)
    with pytest.raises(SyncBroke) as broke:
        sync_partners()
    why = f"{FAULT[t.fj_engine.dialect.name]}: {SAID}"
    assert str(broke.value) == (
        "the sync of 1 partner(s) broke, nothing of theirs applied (`shuangsui partners "
        f"status`): 310000: {why}"
    )
    sh, js = _state(t, "310000"), _state(t, "320000")
    assert (sh.size, sh.status, sh.last_error, sh.last_success_at) == (0, "error", why, None)
    assert sh.last_attempt_at is not None
    assert sh.last_attempt_at.replace(tzinfo=dt.UTC) >= before.replace(microsecond=0)
    assert (js.size, js.status) == (1, "ok")  # the other partner synced all the same

    refusals.mend("partner_entry")
    outcomes = sync_partners()
    assert [(o["partner"], o["status"], o["applied"]) for o in outcomes] == [
        ("310000", "ok", 1), ("320000", "ok", 0)
    ]  # fmt: skip
    sh = _state(t, "310000")
    assert (sh.size, sh.status, sh.last_error) == (1, "ok", None)
