"""Hostile bodies on ``POST /rounds/{round}/teams/{code}/due-dates`` and ``.../replacements``
(api/replacements.py), on a real server on loopback: a date that is not a day written
YYYY-MM-DD (a number, a time, a zone) and a field given twice were taken, the first as some
day, the second as whichever came last. Each is now a 422 naming the field, nothing recorded."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds.models import DueChange, TeamChange
from tests.api.desk import Served, bearer
from tests.findings.factories import ROUND

# the pinned today (tests/conftest.py) is 2026-12-07; the checks are due 2026-12-31


def _raw(served: Served, path: str, body: str) -> httpx.Response:
    """``body`` sent as it is written (a JSON client would not send a key twice)."""
    headers = bearer(served.coordinator) | {"Content-Type": "application/json"}
    return httpx.post(f"{served.base}{path}", content=body.encode(), headers=headers, timeout=30)


def _refused(r: httpx.Response) -> list[str]:
    """The fields a 422 problem document names."""
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json", r.text
    return [e["field"] for e in r.json()["errors"]]


def _nothing_recorded(engine: sa.Engine) -> None:
    with Session(engine) as s:
        assert s.exec(select(DueChange)).all() == []
        assert s.exec(select(TeamChange)).all() == []


@pytest.mark.parametrize(
    "due_on",
    [
        "1799020800",  # seconds since 1970: a day, to pydantic
        "1799020800.0",
        '"2027-01-05T00:00:00"',
        '"2027-01-05T00:00:00+08:00"',
        '"2027-01-05T00:00:00Z"',  # the 5th in UTC, the 5th 08:00 in the bureau
        '"2027-01-05T00:00:00-12:00"',
        '"2027-01-05 00:00"',
    ],
)
def test_a_date_is_a_day_written_yyyy_mm_dd(served: Served, due_on: str) -> None:
    code, team = sorted(served.teams.items())[0]
    redate = _raw(served, f"/rounds/{ROUND}/teams/{code}/due-dates",
                  f'{{"due_on": {due_on}, "reason": "企业停产"}}')  # fmt: skip
    replace = _raw(
        served,
        f"/rounds/{ROUND}/teams/{code}/replacements",
        f'{{"inspector_id": "{team[1]}", "cause": "left", "note": "调离", "due_on": {due_on}}}',
    )
    assert _refused(redate) == ["body.due_on"]
    assert _refused(replace) == ["body.due_on"]
    assert "YYYY-MM-DD" in redate.json()["detail"]
    _nothing_recorded(served.engine)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"due_on": "2027-01-05", "due_on": "2030-01-01", "reason": "停产"}', "body.due_on"),
        ('{"due_on": "2030-01-01", "due_on": "2027-01-05", "reason": "停产"}', "body.due_on"),
        ('{"due_on": "2027-01-05", "reason": "停产", "reason": "整顿"}', "body.reason"),
    ],
)
def test_a_field_given_twice_is_refused_on_a_new_date(
    served: Served, body: str, field: str
) -> None:
    code = sorted(served.teams)[0]
    r = _raw(served, f"/rounds/{ROUND}/teams/{code}/due-dates", body)
    assert _refused(r) == [field]
    assert "more than once" in r.json()["detail"]
    _nothing_recorded(served.engine)


def test_a_field_given_twice_is_refused_on_a_replacement(served: Served) -> None:
    code, team = sorted(served.teams.items())[0]
    body = (f'{{"inspector_id": "{team[0]}", "inspector_id": "{team[1]}", "cause": "left", '
            f'"note": "调离"}}')  # fmt: skip
    r = _raw(served, f"/rounds/{ROUND}/teams/{code}/replacements", body)
    assert _refused(r) == ["body.inspector_id"]
    _nothing_recorded(served.engine)


@pytest.mark.parametrize(
    "body",
    [b'{"due_on": "2027-01-05", "reason": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000],
    ids=["not-utf-8", "nested-100000-deep"],
)
def test_a_body_json_cannot_read_names_the_body(served: Served, body: bytes) -> None:
    """The framework answered "There was an error parsing the body", naming nothing."""
    code = sorted(served.teams)[0]
    r = httpx.post(
        f"{served.base}/rounds/{ROUND}/teams/{code}/due-dates",
        content=body,
        headers=bearer(served.coordinator) | {"Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == ["body"]
    assert r.json()["detail"].startswith("body: ")
    _nothing_recorded(served.engine)
