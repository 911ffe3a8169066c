"""A partner's log may hold two entries with one id: shuangsui's own writer keeps ids unique,
but a log written otherwise may repeat one, and an entry of a kind this shuangsui keeps unread
(``?<kind>``) may carry any id. Accepting or declining an incoming assistance request looked its
entry up by id alone (``scalar_one``), so a second entry named ``assistance-request/<id>`` made
every answer to the request fail (MultipleResultsFound). The answer now takes the entry that
opened the case, by the leaf the case recorded. SQLite and PostgreSQL; Shanghai a real server on
loopback, its request pulled by a real sync."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from exchange import assistance
from exchange.models import AssistanceCase, ExchangeEntry, PartnerEntry
from tests.exchange.test_assistance_answers_at_once import REQUEST, asked

__all__ = ["asked"]  # the fixture: a pending request of Shanghai's, pulled by a real sync


def _a_second_entry_with_the_request_s_id(engine: sa.Engine) -> str:
    """An entry after the request, of a kind kept unread, named as the request is: as a sync
    stores it from a log that holds it (its leaf hash, its own)."""
    with Session(engine) as s:
        last = s.exec(select(func.max(PartnerEntry.seq)).where(
            col(PartnerEntry.partner_code) == "310000")).one()  # fmt: skip
        doc = {"v": 1, "origin": "shuangsui.310000", "seq": last + 1,
               "id": f"assistance-request/{REQUEST}", "kind": "assistance-note",
               "at": "2026-12-06T08:00:00Z", "supersedes": None,
               "body": {"to": "350000", "note": "另一条同名记录"}}  # fmt: skip
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        leaf = hashlib.sha256(b"\x00" + data.encode()).hexdigest()
        s.add(PartnerEntry(partner_code="310000", seq=last + 1, entry_id=doc["id"],
                           kind="?assistance-note", body=data, leaf_hash=leaf,
                           applied_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        s.commit()
    return leaf


@pytest.mark.parametrize("accept", [True, False], ids=["accepted", "declined"])
def test_an_answer_takes_the_entry_that_opened_the_case(
    engine: sa.Engine, asked: str, accept: bool
) -> None:
    other = _a_second_entry_with_the_request_s_id(engine)
    with Session(engine) as s:
        case = s.get(AssistanceCase, ("310000", asked))
        assert case is not None and case.request_entry_hash and case.request_entry_hash != other
        opened_by = case.request_entry_hash
    reason = "" if accept else "企业不在本局辖区"
    answered = assistance.decide(engine, requester="310000", request_id=asked, accept=accept,
                                 reason=reason, by="协调员甲")  # fmt: skip
    assert answered.status == ("accepted" if accept else "declined")
    with Session(engine) as s:
        (body,) = s.exec(select(ExchangeEntry.body).where(
            col(ExchangeEntry.entry_id) == f"assistance-answer/310000/{asked}")).all()  # fmt: skip
    shared = json.loads(body)["body"]
    assert shared["request"]["leaf_hash"] == opened_by  # the request's entry, not the other
    if accept:
        assert len(shared["team"]) == 2
