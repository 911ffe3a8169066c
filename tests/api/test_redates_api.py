"""``POST /rounds/{round}/teams/{code}/due-dates`` and ``GET /rounds/{round}/due-dates``
(api/replacements.py; rounds/redates.py) on a real server on loopback: a coordinator gives a
team's check a new date with no one withdrawn; who may call it, and its refusals as problem
documents naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.links import assignment_token
from rounds.models import Assignment, DueChange
from shuangsui.config import get_settings
from tests.api.desk import ME, Served, bearer
from tests.findings.factories import ROUND, final_finding

LATER = "2027-01-22"  # the pinned today (tests/conftest.py) is 2026-12-07


def _post(served: Served, code: str, body: Any, token: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{served.base}/rounds/{ROUND}/teams/{code}/due-dates",
        json=body,
        timeout=30,
        headers=bearer(served.coordinator if token is None else token),
    )


def _fields(r: httpx.Response) -> list[str]:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return sorted(e["field"] for e in r.json()["errors"])


def _stored(engine: sa.Engine) -> list[tuple[int, str]]:
    with Session(engine) as s:
        return [(r.n, r.credit_code) for r in s.exec(select(DueChange)).all()]


def test_a_coordinator_moves_a_check_s_date_and_lists_the_changes(served: Served) -> None:
    code, team = sorted(served.teams.items())[0]
    r = _post(served, code, {"due_on": LATER, "reason": "企业停产整顿"})
    assert r.status_code == 201, r.text
    got = r.json()
    assert {k: got[k] for k in ("n", "credit_code", "old_due_on", "due_on", "reason",
                                "recorded_by", "team")} == {
        "n": 1, "credit_code": code, "old_due_on": "2026-12-31", "due_on": LATER,
        "reason": "企业停产整顿", "recorded_by": ME, "team": team,
    }  # fmt: skip
    with Session(served.engine) as s:
        dues = s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all()
    assert list(dues) == [dt.date.fromisoformat(LATER)] * 2
    listed = httpx.get(
        f"{served.base}/rounds/{ROUND}/due-dates", headers=bearer(served.coordinator)
    )
    assert listed.status_code == 200 and listed.json() == [
        {k: v for k, v in got.items() if k != "team"}
    ]


def test_who_may_call_it(served: Served) -> None:
    code, team = sorted(served.teams.items())[0]
    secret = get_settings().secret_key.get_secret_value()
    inspector = assignment_token(secret, ROUND, code, team[0])
    body = {"due_on": LATER, "reason": "延期"}
    nobody = httpx.post(f"{served.base}/rounds/{ROUND}/teams/{code}/due-dates", json=body)
    own_team = _post(served, code, body, token=inspector)
    listing = httpx.get(f"{served.base}/rounds/{ROUND}/due-dates", headers=bearer(inspector))
    assert nobody.status_code == 401
    assert own_team.status_code == 403 and own_team.json()["type"].endswith("role-refused")
    assert listing.status_code == 403
    assert _stored(served.engine) == []


def test_refusals_name_the_field_and_write_nothing(served: Served) -> None:
    (done, done_team), (code, _), *_ = sorted(served.teams.items())
    final_finding(served.engine, done, done_team)
    answers = {
        "final": _post(served, done, {"due_on": LATER, "reason": "延期"}),
        "past": _post(served, code, {"due_on": "2026-12-06", "reason": "延期"}),
        "far": _post(served, code, {"due_on": "2027-12-08", "reason": "延期"}),
        "same": _post(served, code, {"due_on": "2026-12-31", "reason": "延期"}),
        "blank": _post(served, code, {"due_on": LATER, "reason": "  "}),
        "missing": _post(served, code, {"due_on": LATER}),
        "extra": _post(served, code, {"due_on": LATER, "reason": "延期", "team": []}),
        "no-team": _post(served, "91350100MA2Y000000", {"due_on": LATER, "reason": "延期"}),
    }
    got = {k: (r.status_code, _fields(r)) for k, r in answers.items()}
    assert got == {
        "final": (409, ["path.credit_code"]),
        "past": (422, ["body.due_on"]),
        "far": (422, ["body.due_on"]),
        "same": (422, ["body.due_on"]),
        "blank": (422, ["body.reason"]),
        "missing": (422, ["body.reason"]),
        "extra": (422, ["body.team"]),
        "no-team": (404, ["path.credit_code"]),
    }
    assert answers["same"].json()["type"].endswith("due-date-due-same")
    assert "reason: say why the check moves" in answers["blank"].json()["detail"]
    assert _stored(served.engine) == []


def test_a_replacement_keeping_a_near_date_says_so(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seat's date kept, a working day away: the answer's ``due_soon`` says it, with a
    date to give instead; further away, null."""
    (near, near_team), (far, far_team), *_ = sorted(served.teams.items())
    far_answer = httpx.post(
        f"{served.base}/rounds/{ROUND}/teams/{far}/replacements",
        json={"inspector_id": far_team[1], "cause": "left", "note": "调离"},
        headers=bearer(served.coordinator),
        timeout=30,
    )
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: dt.date(2026, 12, 30))
    near_answer = httpx.post(
        f"{served.base}/rounds/{ROUND}/teams/{near}/replacements",
        json={"inspector_id": near_team[1], "cause": "left", "note": "调离"},
        headers=bearer(served.coordinator),
        timeout=30,
    )
    assert far_answer.status_code == 201 and far_answer.json()["due_soon"] is None
    assert near_answer.status_code == 201, near_answer.text
    soon = near_answer.json()["due_soon"]
    assert (soon["due_on"], soon["working_days"]) == ("2026-12-31", 1)
    assert soon["suggested_due_on"] > "2026-12-31"
