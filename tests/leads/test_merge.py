"""Merging a lead: only into another open lead (received, accepted, targeted) of the same
enterprise, by one rule (``leads.service.merge_refusal``) that the service, the API and the
workspace's form share. A lead already answered, merged or rejected is refused naming the field;
so is one answered by a final finding no list has read yet, and one decided while the merge
waits for it."""

from __future__ import annotations

import json
import threading
import warnings
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from api import tokens
from api.app import create_app
from leads import service
from leads.models import Lead, LeadStatus
from rounds import audit
from rounds import service as rounds
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.leads.helpers import complaint, draw, final_finding, outside_code
from tests.rounds.factories import plan_yaml, seed_registry

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ME = "林科长"
OPEN = "merge into an open lead (received, accepted, targeted)"


def _status(engine: sa.Engine, lead_id: int) -> LeadStatus:
    with Session(engine) as s:
        lead = s.get(Lead, lead_id)
    assert lead is not None
    return lead.status


def _merged(engine: sa.Engine) -> list[tuple[int, int]]:
    with Session(engine) as s:
        chain = audit.load_chain(s)
    found = [json.loads(e.payload) for e in chain if e.event == "LeadMerged"]
    return [(p["lead_id"], p["into"]) for p in found]


def _refused(engine: sa.Engine, lead_id: int, into: int) -> str:
    with pytest.raises(UserError) as refused:
        service.merge(engine, lead_id, into=into, by=ME)
    assert _status(engine, lead_id) is LeadStatus.received  # nothing written
    return str(refused.value)


def test_a_lead_merges_only_into_an_open_lead_of_its_enterprise(engine: sa.Engine) -> None:
    code = seed_registry(engine)[5]
    checked, rejected, kept, *reports = (complaint(engine, code) for _ in range(7))
    other_firm = complaint(engine, outside_code())
    service.accept(engine, checked, check_item="CCC-01", by=ME)
    service.reject(engine, rejected, reason="不属于本局管辖", by=ME)
    rnd = rounds.commit_round(engine=engine, plan_text=plan_yaml())
    assert _status(engine, checked) is LeadStatus.targeted
    waiting = complaint(engine, code)
    service.accept(engine, waiting, check_item="CCC-01", by=ME)  # after the commit: accepted

    # open: received, accepted, targeted
    service.merge(engine, reports[0], into=kept, by=ME)
    service.merge(engine, reports[1], into=waiting, by=ME)
    service.merge(engine, reports[2], into=checked, by=ME)

    draw(engine, rnd.round_key)
    final_finding(engine, rnd.round_key, code)
    # the finding is final and no list has been read since: the lead is answered all the same
    assert _status(engine, checked) is LeadStatus.targeted
    assert _refused(engine, reports[3], checked) == f"into: lead {checked} is answered; {OPEN}"
    assert _status(engine, checked) is LeadStatus.answered
    assert _refused(engine, reports[3], rejected) == f"into: lead {rejected} is rejected; {OPEN}"
    assert _refused(engine, reports[3], reports[0]) == (
        f"into: lead {reports[0]} is merged; {OPEN}"
    )
    assert _refused(engine, reports[3], reports[3]) == "into: a lead cannot be merged into itself"
    assert _refused(engine, reports[3], 999999) == "into: lead 999999 does not exist"
    assert _refused(engine, reports[3], other_firm) == (
        f"into: lead {other_firm} concerns {outside_code()}, not {code}"
    )
    assert _merged(engine) == [(reports[0], kept), (reports[1], waiting), (reports[2], checked)]

    # the API says the same refusal, naming the field
    token = tokens.create_coordinator(engine, ME, get_settings().bureau_code)
    client = TestClient(create_app(engine=engine))
    answer = client.post(f"/leads/{reports[3]}/merge", json={"into": checked},
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == f"into: lead {checked} is answered; {OPEN}"


def test_the_rule_allows_exactly_the_open_statuses(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=8)
    code = outside_code()
    lead, *others = (complaint(engine, code) for _ in range(len(LeadStatus) + 1))
    with Session(engine, expire_on_commit=False) as s:
        this = s.get(Lead, lead)
        rows = {st: s.get(Lead, i) for st, i in zip(LeadStatus, others, strict=True)}
    assert this is not None
    allowed = set()
    for status, other in rows.items():
        assert other is not None
        other.status = status
        if service.merge_refusal(this, other) is None:
            allowed.add(status)
    assert allowed == {s for s in LeadStatus if s.open} == set(service.OPEN)
    assert service.OPEN == (LeadStatus.received, LeadStatus.accepted, LeadStatus.targeted)


def test_a_merge_waits_for_a_decision_on_its_target_in_progress(engine: sa.Engine) -> None:
    """The target is being rejected (its row locked, its new status not committed yet): the
    merge waits for that decision and is refused by it, instead of merging into a lead that
    is rejected a moment later (or two leads merged into each other, neither carrying on)."""
    seed_registry(engine, enterprises=8)
    code = outside_code()
    lead, target = complaint(engine, code), complaint(engine, code)
    outcome: dict[str, Any] = {}

    def merging() -> None:
        try:
            service.merge(engine, lead, into=target, by=ME)
            outcome["merged"] = True
        except BaseException as exc:  # recorded for the assertion, not lost in the thread
            outcome["refused"] = exc

    worker = threading.Thread(target=merging)
    with engine.begin() as conn:
        row = col(Lead.id) == target
        conn.execute(sa.select(col(Lead.id)).where(row).with_for_update())
        conn.execute(sa.update(Lead).where(row).values(status=LeadStatus.rejected,
                                                       decided_by="另一协调员"))  # fmt: skip
        worker.start()
        worker.join(timeout=2)  # a merge that does not wait for the target is done by now
    worker.join(timeout=60)
    assert not worker.is_alive()
    refused = outcome.get("refused")
    assert isinstance(refused, UserError), outcome
    assert str(refused) == f"into: lead {target} is rejected; {OPEN}"
    assert _status(engine, lead) is LeadStatus.received and _merged(engine) == []
