"""The coordinator's page of a lead whose enterprise the registry does not hold says so (no
round can target it until the registry takes it in) and offers no 受理; a 受理 sent anyway is
refused in those words, the lead left as it was. Merge and reject stay offered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from findings.dates import today
from leads import service
from leads.models import Lead, LeadStatus
from leads.schemas import LeadIn
from tests.leads.helpers import outside_code
from tests.rounds.factories import plans_folder, seed_registry
from tests.workspace.helpers import csrf_of
from tests.workspace.test_leads_pages import Desk, _desk

SAID = "该企业不在检查对象名录库中"


@pytest.fixture
def desk(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    seed_registry(engine, enterprises=8)
    plans_folder(tmp_path, monkeypatch)
    with _desk(engine) as served:
        yield served


def _lead(engine: sa.Engine, code: str) -> int:
    data = {"source": "complaint", "credit_code": code, "category": "虚假认证",
            "received_on": today() - dt.timedelta(days=3)}  # fmt: skip
    lead = service.receive(engine, LeadIn.model_validate(data), by="林科长")
    assert lead.id is not None
    return lead.id


def test_the_page_says_the_enterprise_is_not_in_the_registry(desk: Desk, engine: sa.Engine) -> None:
    lead = _lead(engine, outside_code())
    with desk.signed_in() as http:
        page = http.get(f"/w/c/leads/{lead}")
        csrf = csrf_of(page.text)
        sent = http.post(f"/w/c/leads/{lead}/accept", data={"csrf": csrf, "check_item": "CCC-01"})
    assert page.status_code == 200
    assert 'id="not-in-registry"' in page.text and SAID in page.text
    assert f'action="/w/c/leads/{lead}/accept"' not in page.text  # no 受理 form
    assert f'action="/w/c/leads/{lead}/reject"' in page.text
    assert sent.status_code == 422 and SAID in sent.text
    with Session(engine) as s:
        kept = s.get(Lead, lead)
        assert kept is not None and kept.status is LeadStatus.received
