"""Leads against careless and concurrent senders, on SQLite and PostgreSQL: the same lead sent
twice while the first is being written, a triage racing another audit writer, and control
characters (NUL) in any field, by the API and by a CSV import.

The races are made, not hoped for: a second transaction holds its uncommitted insert while the
request under test runs into it. On PostgreSQL the test waits until that request is blocked
on the lock (``pg_stat_activity``); on SQLite writers queue at ``BEGIN IMMEDIATE``, so the same
steps simply run one after the other there.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from leads import events, service
from leads.importer import import_leads
from leads.models import Lead, LeadStatus
from leads.schemas import LeadIn
from rounds import audit
from shuangsui.config import get_settings
from shuangsui.errors import ImportRejected
from tests.leads.helpers import outside_code
from tests.rounds.factories import seed_registry
from tests.servers import serve_app


def _lead(**kw: Any) -> LeadIn:
    data = {"source": "complaint", "credit_code": outside_code(), "category": "虚假宣传",
            "received_on": dt.date(2026, 11, 2)}  # fmt: skip
    return LeadIn.model_validate(data | kw)


def _blocked(engine: sa.Engine) -> bool:
    """PostgreSQL: some other session waits for a lock."""
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    return bool(waiting)


def _while_held(engine: sa.Engine, hold: Callable[[Session], None], run: Callable[[], Any]) -> Any:
    """Run ``run`` in a thread while another transaction holds what ``hold`` wrote (flushed,
    not committed); commit that transaction once ``run`` is blocked on it; ``run``'s result,
    or the exception it raised."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = run()
        except Exception as exc:  # the test reports what the request raised
            out["result"] = exc

    with Session(engine, expire_on_commit=False) as holder:
        hold(holder)
        holder.flush()
        thread = threading.Thread(target=target)
        thread.start()
        if engine.dialect.name == "postgresql":
            give_up = time.monotonic() + 60
            while not _blocked(engine) and "result" not in out and time.monotonic() < give_up:
                time.sleep(0.05)
            assert "result" not in out, f"the request was not blocked: {out['result']!r}"
        holder.commit()
    thread.join(120)
    return out["result"]


def test_the_same_lead_sent_while_it_is_being_recorded_is_recorded_once(
    engine: sa.Engine,
) -> None:
    """Two intakes of one ``external_ref`` at once: one lead, both answered with it."""
    data = _lead(external_ref="12345-转办")

    def hold(s: Session) -> None:
        s.add(service.new_lead(data, by="first", at=service.now()))

    got = _while_held(engine, hold, lambda: service.receive(engine, data, by="second"))
    assert isinstance(got, Lead), got
    with Session(engine) as s:
        rows = s.exec(select(Lead).where(Lead.external_ref == "12345-转办")).all()
    assert [(r.id, r.created_by) for r in rows] == [(got.id, "first")]


def test_a_triage_that_meets_another_audit_writer_retries(engine: sa.Engine) -> None:
    code = seed_registry(engine, enterprises=8)[0]
    lead = service.receive(engine, _lead(credit_code=code), by="林科长")
    check_item = "CCC-01"
    assert lead.id is not None
    lead_id = lead.id

    def hold(s: Session) -> None:  # another writer's event, at the head the triage will read
        audit.add_to(s, None, events.LeadRejected(0, "另一写入者", "test"))

    got = _while_held(
        engine, hold, lambda: service.accept(engine, lead_id, check_item=check_item, by="王五")
    )
    assert isinstance(got, Lead) and got.status is LeadStatus.accepted, got
    with Session(engine) as s:
        assert audit.verify_chain(audit.load_chain(s)) == 3
        names = [e.event for e in audit.load_chain(s)]
    assert names == ["LeadReceived", "LeadRejected", "LeadAccepted"]


@pytest.mark.parametrize(
    "field, value",
    [("allegation", "举报\x00内容"), ("category", "虚假\x00宣传"), ("reporter", "李\x07某"),
     ("external_ref", "R\x00-1")],
)  # fmt: skip
def test_control_characters_are_refused_the_same_on_both_databases(
    engine: sa.Engine, field: str, value: str
) -> None:
    coordinator = tokens.create_coordinator(engine, "王五", get_settings().bureau_code)
    body = _lead().model_dump(mode="json") | {field: value}

    with serve_app(create_app(engine=engine)) as url:
        resp = httpx.post(
            f"{url}/leads", json=body, headers={"Authorization": f"Bearer {coordinator}"}
        )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == f"body.{field}"
    assert "control character U+00" in resp.text
    with Session(engine) as s:
        assert s.exec(select(Lead)).all() == []


def test_a_reference_reused_for_another_lead_is_refused_not_swallowed(engine: sa.Engine) -> None:
    """A partner's referral system reusing its reference for another enterprise was answered
    201 with the first lead; the second lead was never recorded, and nothing said so."""
    code = seed_registry(engine, enterprises=4)[0]
    coordinator = tokens.create_coordinator(engine, "王五", get_settings().bureau_code)
    first = _lead(external_ref="转办-2026-88").model_dump(mode="json")
    other = first | {"credit_code": code}
    auth = {"Authorization": f"Bearer {coordinator}"}
    with serve_app(create_app(engine=engine)) as url:
        made = httpx.post(f"{url}/leads", json=first, headers=auth)
        again = httpx.post(f"{url}/leads", json=first, headers=auth)  # a retry: the same lead
        refused = httpx.post(f"{url}/leads", json=other, headers=auth)
    assert made.status_code == again.status_code == 201, made.text
    assert again.json()["id"] == made.json()["id"]
    assert refused.status_code == 409, refused.text
    assert refused.json()["lead"] == made.json()["id"]
    assert refused.json()["detail"] == (
        f"external_ref: 转办-2026-88 is lead {made.json()['id']} already, which differs in "
        "credit_code; give another lead a reference of its own"
    )
    with Session(engine) as s:
        assert len(s.exec(select(Lead)).all()) == 1


def test_allegations_keep_their_line_breaks() -> None:
    assert _lead(allegation="第一行\r\n第二行\t完").allegation == "第一行\r\n第二行\t完"


def test_a_nul_in_an_imported_row_is_named_and_nothing_is_written(
    engine: sa.Engine, tmp_path: Path
) -> None:
    code = outside_code()
    path = tmp_path / "leads.csv"
    head = "来源,统一社会信用代码,线索类别,收到日期,编号\n"
    rows = f"投诉举报,{code},虚假宣传,2026-11-01,A-1\n投诉举报,{code},虚假\x00宣传,2026-11-01,A-2\n"
    path.write_bytes(b"\xef\xbb\xbf" + (head + rows).encode())  # with a BOM, as Excel writes
    with pytest.raises(ImportRejected, match=r"leads.csv:3: category: contains the control"):
        import_leads(engine, path, imported_by="林科长")
    with Session(engine) as s:
        assert s.exec(select(Lead)).all() == []
        assert audit.load_chain(s) == []
