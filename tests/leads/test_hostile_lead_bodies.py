"""Hostile requests on the leads API, on a real server on loopback: a date that is not a day
written YYYY-MM-DD (pydantic alone took seconds since 1970 and a time at midnight as a day),
a field of a body or a parameter of the list given twice (the last was taken, while a proxy or
a log may read the first). Each is a 422 naming it; nothing is recorded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from leads.models import Lead
from shuangsui.config import get_settings
from tests.rounds.factories import seed_registry
from tests.servers import serve_app
from workspace import leadforms


@pytest.fixture
def http(engine: sa.Engine) -> Iterator[tuple[httpx.Client, str]]:
    code = seed_registry(engine)[5]
    token = tokens.create_coordinator(engine, "林科长", get_settings().bureau_code)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with (
        serve_app(create_app(engine=engine)) as base,
        httpx.Client(base_url=base, headers=headers) as client,
    ):
        yield client, code


def _body(code: str, received_on: str, extra: str = "") -> str:
    return (f'{{"source": "投诉举报", "credit_code": "{code}", "category": "认证标志使用不规范", '
            f'"received_on": {received_on}{extra}}}')  # fmt: skip


def _refused(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json", r.text
    return [e["field"] for e in r.json()["errors"]]


def _no_lead(engine: sa.Engine) -> None:
    with Session(engine) as s:
        assert s.exec(select(Lead)).all() == []


@pytest.mark.parametrize(
    "received_on", ["1795132800", '"2026-11-20T00:00:00Z"', '"2026-11-20 00:00"', '"20261120"']
)
def test_a_received_date_is_a_day_written_yyyy_mm_dd(
    engine: sa.Engine, http: tuple[httpx.Client, str], received_on: str
) -> None:
    client, code = http
    assert _refused(client.post("/leads", content=_body(code, received_on))) == ["body.received_on"]
    deadline = _body(code, '"2026-11-20"', ', "deadline": 1798761600')
    assert _refused(client.post("/leads", content=deadline)) == ["body.deadline"]
    _no_lead(engine)
    assert leadforms.said("received_on", "a day written YYYY-MM-DD (no time, no zone)") == (
        "收到日期：应为日期，请按 年-月-日 填写，例如 2026-12-10"
    )


def test_a_field_given_twice_is_refused(engine: sa.Engine, http: tuple[httpx.Client, str]) -> None:
    client, code = http
    twice = _body(code, '"2026-11-20"', ', "category": "其他"')
    r = client.post("/leads", content=twice)
    assert _refused(r) == ["body.category"]
    assert "more than once" in r.text
    _no_lead(engine)
    made = client.post("/leads", content=_body(code, '"2026-11-20"'))
    assert made.status_code == 201, made.text
    lead = made.json()["id"]
    r = client.post(f"/leads/{lead}/reject", content='{"reason": "重复", "reason": "不实"}')
    assert _refused(r) == ["body.reason"]
    assert client.get(f"/leads/{lead}").json()["status"] == "received"


def test_a_list_parameter_given_twice_is_refused(http: tuple[httpx.Client, str]) -> None:
    client, _code = http
    assert _refused(client.get("/leads?limit=5&limit=1")) == ["query.limit"]
    assert client.get("/leads?limit=5").status_code == 200
