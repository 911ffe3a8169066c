"""The leads pages' forms sent as no page of ours sends them, over real HTTP: a field as a file
(its Python description was recorded as the allegation, the reporter or a decision's reason,
and kept in the audit chain) or a field twice (the last was recorded). Each is refused naming
the field, and nothing is recorded."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from findings.dates import today
from leads import service
from leads.models import Lead, LeadStatus
from leads.schemas import LeadIn
from registry.models import Enterprise
from rounds.models import AuditEvent
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.rounds.factories import plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, sign_in

A_FILE = ("说明.txt", "举报内容见附件".encode(), "text/plain")


@pytest.fixture
def desk(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A registry, a plans folder and a signed-in coordinator's client of the served app."""
    seed_registry(engine, enterprises=8)
    plans_folder(tmp_path, monkeypatch)
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
        yield http  # type: ignore[misc]


def _code(engine: sa.Engine) -> str:
    with Session(engine) as s:
        first = s.exec(select(Enterprise).order_by(Enterprise.credit_code)).first()
    assert first is not None
    return first.credit_code


def _intake(http: httpx.Client, engine: sa.Engine) -> dict[str, str]:
    blank = http.get("/w/c/leads/new")
    key = re.search(r'name="intake_key" value="([0-9a-f]{32})"', blank.text)
    assert key is not None
    return {"csrf": csrf_of(blank.text), "intake_key": key[1], "source": "complaint",
            "credit_code": _code(engine), "category": "虚假认证",
            "received_on": (today() - dt.timedelta(days=2)).isoformat(),
            "reporter": "王某某", "allegation": "插座未加施CCC标志"}  # fmt: skip


def _said(page: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def _leads(engine: sa.Engine) -> list[Lead]:
    with Session(engine) as s:
        return list(s.exec(select(Lead)).all())


def _events(engine: sa.Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent.event)).all())


@pytest.mark.parametrize("field", ["allegation", "reporter", "category"])
def test_a_file_in_an_intake_field_is_refused_naming_it(
    desk: httpx.Client, engine: sa.Engine, field: str
) -> None:
    form = _intake(desk, engine)
    del form[field]
    refused = desk.post("/w/c/leads/new", data=form, files={field: A_FILE})
    label = {"allegation": "线索内容", "reporter": "举报人", "category": "线索类别"}[field]
    assert refused.status_code == 422, refused.headers.get("location")
    assert f"{label}：应为文字，不能是文件" in _said(refused)
    assert "UploadFile" not in refused.text
    assert _leads(engine) == [] and "LeadReceived" not in _events(engine)


def test_an_intake_field_sent_twice_is_refused_naming_it(
    desk: httpx.Client, engine: sa.Engine
) -> None:
    form = list(_intake(desk, engine).items()) + [("category", "别的类别")]
    body = httpx.QueryParams(form)
    refused = desk.post(
        "/w/c/leads/new",
        content=str(body).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert refused.status_code == 422
    assert "线索类别：表单中填写了不止一次" in _said(refused)
    assert _leads(engine) == []


def _received(engine: sa.Engine) -> int:
    data = {"source": "complaint", "credit_code": _code(engine), "category": "虚假认证",
            "received_on": today() - dt.timedelta(days=3), "allegation": "插座"}  # fmt: skip
    lead = service.receive(engine, LeadIn.model_validate(data), by="林科长")
    assert lead.id is not None
    return lead.id


@pytest.mark.parametrize(
    ("step", "fields", "files", "said"),
    [
        ("reject", {}, {"reason": A_FILE}, "理由：应为文字，不能是文件"),
        ("reject", {"reason": ["重复举报", "另一个理由"]}, {}, "理由：表单中填写了不止一次"),
        ("accept", {"check_item": ["CCC-01", "CCC-02"]}, {}, "检查事项：表单中填写了不止一次"),
        ("accept", {}, {"check_item": A_FILE}, "检查事项：应为文字，不能是文件"),
        ("merge", {"reason": "同一事项"}, {"into": A_FILE}, "合并到：应为文字，不能是文件"),
    ],
)  # fmt: skip
def test_a_decisions_field_as_a_file_or_twice_decides_nothing(
    desk: httpx.Client,
    engine: sa.Engine,
    step: str,
    fields: dict[str, object],
    files: dict[str, object],
    said: str,
) -> None:
    lead_id = _received(engine)
    page = desk.get(f"/w/c/leads/{lead_id}")
    sent = {"csrf": csrf_of(page.text), **fields}
    refused = desk.post(f"/w/c/leads/{lead_id}/{step}", data=sent, files=files or None)
    assert refused.status_code == 422
    assert said in _said(refused) and "UploadFile" not in refused.text
    assert f'href="/w/c/leads/{lead_id}"' in refused.text  # 继续: back to the lead
    (lead,) = _leads(engine)
    assert lead.status is LeadStatus.received and lead.decision_reason == ""
    assert not {"LeadRejected", "LeadAccepted", "LeadMerged"} & set(_events(engine))
