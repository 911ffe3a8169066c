"""An inspector's finding sent by the API with a date that is not a day written YYYY-MM-DD, or
a field given twice: pydantic alone took ``1796947200`` (seconds since 1970) and a time at
midnight, with or without a zone, as a day, and JSON's reader kept the last of two values of
a field, while a proxy or a log may read the first. Each is a 422 naming the field, nothing
stored; the inspector's page says the date's refusal in Chinese."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from findings import service
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import serve
from workspace import forms


def _post(engine: sa.Engine, body: str) -> httpx.Response:
    """``body`` sent as it is written (a JSON client would not send a key twice)."""
    code, team = sorted(drawn_round(engine).items())[0]
    token = assignment_token(get_settings().secret_key.get_secret_value(), ROUND, code, team[0])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        return http.post(f"/findings/{ROUND}/{code}", content=body.encode(), headers=headers)


def _refused(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json", r.text
    return [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize(
    "check_date",
    ["1796947200", "1796947200.0", '"2026-12-10T00:00:00"', '"2026-12-10T00:00:00Z"',
     '"2026-12-10T00:00:00+08:00"', '"2026-12-10 00:00"', '"20261210"'],
)  # fmt: skip
def test_a_check_date_is_a_day_written_yyyy_mm_dd(engine: sa.Engine, check_date: str) -> None:
    r = _post(engine, f'{{"result": "no_problem", "check_date": {check_date}}}')
    assert _refused(r) == ["body.check_date"]
    assert "YYYY-MM-DD" in r.text
    assert service.count_versions(engine) == 0


def test_a_measures_deadline_is_a_day_too(engine: sa.Engine) -> None:
    body = ('{"result": "ordered_to_rectify", "check_date": "2026-12-10", "measures": '
            '[{"kind": "rectify", "text": "限期整改", "deadline": 1798761600}]}')  # fmt: skip
    assert _refused(_post(engine, body)) == ["body.measures.0.deadline"]
    assert service.count_versions(engine) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"result": "no_problem", "result": "misused_mark", "check_date": "2026-12-10"}',
         "body.result"),
        ('{"result": "no_problem", "check_date": "2026-12-10", "check_date": "2026-12-01"}',
         "body.check_date"),
    ],
)  # fmt: skip
def test_a_field_given_twice_is_refused(engine: sa.Engine, body: str, field: str) -> None:
    r = _post(engine, body)
    assert _refused(r) == [field]
    assert "more than once" in r.text
    assert service.count_versions(engine) == 0


def test_the_inspectors_page_says_the_date_refusal_in_chinese() -> None:
    said = forms.in_chinese("a day written YYYY-MM-DD (no time, no zone), e.g. 2027-01-15")
    assert said == "应为日期，请按 年-月-日 填写，例如 2026-12-10"
