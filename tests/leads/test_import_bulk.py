"""``leads import`` writes in bulk and writes what it wrote a row at a time.

It built a ``Lead`` a row and appended each audit event with ``audit.add_to`` (a read of the
log's head and a flush an event); it now inserts the leads through Core and the events with
``audit.add_many`` (one head read, one ``executemany``). For the same file and the same clock
the lead rows and the audit rows must be the very same: the chain's hashes vouch for the events'
bytes, and an auditor's written-down head must still check."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from leads import events, service
from leads.importer import import_leads
from leads.models import Lead
from leads.schemas import LeadIn
from registry.io import write_table
from rounds import audit
from rounds.models import AuditEvent
from shuangsui.errors import UserError

BY = "林科长"
AT = dt.datetime(2026, 12, 4, 9, 30, 0, 123456, tzinfo=dt.UTC)
# the file's leads, as the old code and the new one both read them (every column, both
# kinds of deadline, a reference and none, a line break kept in an allegation)
LEADS = [
    {"source": "complaint", "credit_code": "91350100MA2Y00019B", "category": "虚假认证",
     "received_on": "2026-11-02", "deadline": "2026-12-01", "confidential": "是",
     "reporter": "李某", "allegation": "证书造假\n第二行", "external_ref": "TS-1"},
    {"source": "partner_referral", "credit_code": "91350100MA2Y00019B", "category": "产品不一致",
     "received_on": "2026-11-03", "deadline": "", "confidential": "否", "reporter": "",
     "allegation": "", "external_ref": ""},
    {"source": "risk_monitoring", "credit_code": "913502007054521461", "category": "标志",
     "received_on": "2026-11-04", "deadline": "", "confidential": "", "reporter": "王某",
     "allegation": "", "external_ref": "TS-3"},
]  # fmt: skip
# the log's head after importing LEADS as ``leads.csv`` into an empty log at the clock below,
# as the import wrote it before it wrote in bulk (a Lead and an ``add_to`` each)
OLD_HEAD = "5:44c2d449e8feb8463da4cf7ad988609ff70093c6e60ec01c9787b876eca6e16c"


class Clock(dt.datetime):
    """``datetime`` whose ``now`` ticks a microsecond a call from AT: each event's time is
    the one ``add_to`` would have stamped it with, in the same order."""

    ticks = 0

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> Clock:  # type: ignore[override]
        cls.ticks += 1
        at = AT + dt.timedelta(microseconds=cls.ticks)
        return cls.fromtimestamp(at.timestamp(), tz)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> type[Clock]:
    monkeypatch.setattr(Clock, "ticks", 0)
    monkeypatch.setattr(service, "now", lambda: AT)
    monkeypatch.setattr(audit, "datetime", Clock)
    return Clock


def _file(folder: Path) -> Path:
    path = folder / "leads.csv"
    write_table(path, list(LEADS[0]), [list(lead.values()) for lead in LEADS])
    return path


def _lead_in(row: dict[str, str]) -> LeadIn:
    given = {k: v for k, v in row.items() if v}
    if "confidential" in given:
        given["confidential"] = str(given["confidential"] == "是")
    return LeadIn.model_validate(given)


def _old_writes(engine: sa.Engine, path: Path) -> None:
    """What ``leads import`` wrote before it wrote in bulk: a ``Lead`` a row, flushed, then
    one ``audit.add_to`` an event (leads/importer.py at the commit before this test)."""
    with Session(engine, expire_on_commit=False) as session:
        made = [service.new_lead(_lead_in(r), by=f"import:{BY}", at=service.now()) for r in LEADS]
        session.add_all(made)
        session.flush()
        for lead in made:
            audit.add_to(session, None, service.received_event(lead))
        ids = [lead.id for lead in made]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        audit.add_to(session, None, events.LeadsImported(str(path), digest, ids, BY))
        session.commit()


def _written(engine: sa.Engine) -> tuple[list[Any], list[Any]]:
    """Every lead row and every audit row, each column as the database holds it."""
    leads, log = Lead.__table__, AuditEvent.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return (
            [tuple(r) for r in conn.execute(sa.select(leads).order_by(leads.c.id))],
            [tuple(r) for r in conn.execute(sa.select(log).order_by(log.c.seq))],
        )


def _empty(engine: sa.Engine) -> None:
    """No lead and no event, ids and seqs from 1 again."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE lead, audit_event RESTART IDENTITY"))
        else:  # no AUTOINCREMENT: the next id is the largest one's + 1
            conn.execute(sa.text("DELETE FROM lead"))
            conn.execute(sa.text("DELETE FROM audit_event"))


def _a_head(session: Session) -> None:
    """An event before the import's: its events chain on a head, not on the genesis."""
    audit.add_to(session, None, audit.RoundClosed(results=3))


def test_an_import_writes_the_rows_a_lead_and_an_add_to_each_wrote(
    engine: sa.Engine, tmp_path: Path, clock: type[Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the file's name is in LeadsImported: the same in every run
    path = Path("leads.csv")
    _file(tmp_path)
    runs = []
    for old in (False, True):
        _empty(engine)
        clock.ticks = 0
        with Session(engine) as session:
            _a_head(session)
            session.commit()
        if old:
            _old_writes(engine, path)
        else:
            assert import_leads(engine, path, imported_by=BY).ids == [1, 2, 3]
        runs.append(_written(engine))
    assert runs[0] == runs[1]
    names = [e[3] for e in runs[0][1]]
    assert names == ["RoundClosed"] + ["LeadReceived"] * 3 + ["LeadsImported"]
    assert audit.check_chain(engine) == 5
    head = runs[0][1][-1]
    assert f"{head[0]}:{head[6]}" == OLD_HEAD


def test_add_many_writes_what_add_to_wrote_an_event_at_a_time(
    engine: sa.Engine, clock: type[Clock]
) -> None:
    """After a head of its own, events of two kinds, a round's key: the same rows."""
    batch = [events.LeadRejected(7, "重复", BY), audit.EntropyAwaited("等待"),
             events.LeadsTargeted([7, 8])]  # fmt: skip
    runs = []
    for append in ("add_to", "add_many"):
        _empty(engine)
        clock.ticks = 0
        with Session(engine) as session:
            _a_head(session)
            if append == "add_to":
                for event in batch:
                    audit.add_to(session, "R-1", event)
            else:
                audit.add_many(session, "R-1", batch)
            session.commit()
        runs.append(_written(engine)[1])
    assert runs[0] == runs[1]
    assert audit.check_chain(engine) == 4


def test_an_import_that_meets_another_append_on_its_head_is_refused_whole(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer appends to the log after the import read its head and before it
    inserted its events: the import fails on ``prev_hash``, writes nothing, says why."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the other append waits for the import")
    real, met = audit.chain_hash, threading.Event()

    def chained(*args: Any) -> str:  # the first event's link: the head has been read
        if not met.is_set():
            met.set()
            other = threading.Thread(
                target=audit.append, args=(engine, None, audit.EntropyAwaited("另一写入者"))
            )
            other.start()
            other.join(30)
        return real(*args)

    monkeypatch.setattr(audit, "chain_hash", chained)
    with pytest.raises(UserError, match="another import or intake ran at the same time"):
        import_leads(engine, _file(tmp_path), imported_by=BY)
    leads, log = _written(engine)
    assert leads == [] and [e[3] for e in log] == ["EntropyAwaited"]


def test_an_import_reads_the_default_deadline_from_the_settings(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import reads ``SHUANGSUI_LEADS_DEADLINE_DAYS`` once for its file (not once a row),
    and a row with no deadline of its own takes it, as one sent to ``POST /leads`` does."""
    monkeypatch.setenv("SHUANGSUI_LEADS_DEADLINE_DAYS", "10")
    ids = import_leads(engine, _file(tmp_path), imported_by=BY).ids
    with Session(engine) as session:
        deadlines = [str(session.get_one(Lead, i).deadline) for i in ids]
    assert deadlines == ["2026-12-01", "2026-11-13", "2026-11-14"]
