"""``POST /rounds/{round}/teams/{code}/due-dates`` with ``expected_due_on`` (api/replacements.py;
rounds/redates.py) on a real server on loopback: the date moved only if the check is still due
on the date the client read; otherwise 409 ``due-date-due-moved`` naming
``body.expected_due_on``, the date in force and who set it, nothing written. Absent, two
clients are both recorded in turn, as before (existing clients unchanged)."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from rounds.models import DueChange
from tests.api.desk import ME, Served, bearer
from tests.findings.factories import ROUND

END, FIRST, SECOND = "2026-12-31", "2027-01-20", "2027-02-10"  # today is pinned: 2026-12-07


def _post(served: Served, code: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{served.base}/rounds/{ROUND}/teams/{code}/due-dates",
        json={"reason": "企业停业"} | body,
        timeout=30,
        headers=bearer(served.coordinator),
    )


def _stored(engine: sa.Engine) -> list[tuple[int, str, str]]:
    with Session(engine) as s:
        rows = s.exec(select(DueChange).order_by(col(DueChange.n))).all()
        return [(r.n, r.old_due_on.isoformat(), r.due_on.isoformat()) for r in rows]


def test_a_date_moved_since_the_client_read_it_is_refused(served: Served) -> None:
    code = sorted(served.teams)[0]
    one = _post(served, code, {"due_on": FIRST, "expected_due_on": END})
    two = _post(served, code, {"due_on": SECOND, "expected_due_on": END})
    assert one.status_code == 201, one.text
    assert two.status_code == 409, two.text
    assert two.headers["content-type"] == "application/problem+json"
    problem = two.json()
    assert problem["type"].endswith("due-date-due-moved")
    assert [e["field"] for e in problem["errors"]] == ["body.expected_due_on"]
    assert f"is due on {FIRST} now, not {END} (set by {ME} at " in problem["detail"]
    assert _stored(served.engine) == [(1, END, FIRST)]
    three = _post(served, code, {"due_on": SECOND, "expected_due_on": FIRST})
    assert three.status_code == 201, three.text


def test_without_it_both_are_recorded_as_before(served: Served) -> None:
    code = sorted(served.teams)[0]
    assert _post(served, code, {"due_on": FIRST}).status_code == 201
    assert _post(served, code, {"due_on": SECOND}).status_code == 201
    assert _stored(served.engine) == [(1, END, FIRST), (2, FIRST, SECOND)]


def test_an_expected_date_that_is_no_day_is_refused_naming_it(served: Served) -> None:
    code = sorted(served.teams)[0]
    r = _post(served, code, {"due_on": FIRST, "expected_due_on": "2026-13-01"})
    assert r.status_code == 422, r.text
    assert "body.expected_due_on" in r.text
    assert _stored(served.engine) == []
