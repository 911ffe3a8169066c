"""Two ``POST /rounds/{round}/teams/{code}/due-dates`` of one team at once, on a real server on
loopback (api/replacements.py; rounds/redates.py), PostgreSQL, the interleaving forced as in
tests/rounds/test_due_dates_at_once.py: the first request held at its insert of the change's
row, the second sent and seen waiting for the first's lock. Two dates: both 201, the second
saying the first's date as the one it replaces. The same date twice: one 201, the other 422
``due-same`` naming ``body.due_on``, nothing written for it."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from rounds import bundle
from rounds.models import DueChange
from tests.api.desk import Served, bearer
from tests.findings.factories import ROUND
from tests.rounds.test_due_dates_at_once import one_after_the_other, postgres_only

FIRST, SECOND = "2027-01-20", "2027-02-10"  # the pinned today (tests/conftest.py) is 2026-12-07


@pytest.fixture(autouse=True)
def _postgres_only(engine: sa.Engine) -> None:
    postgres_only(engine)


def _both(served: Served, code: str, first: str, second: str) -> list[httpx.Response]:
    def post(due_on: str) -> httpx.Response:
        return httpx.post(
            f"{served.base}/rounds/{ROUND}/teams/{code}/due-dates",
            json={"due_on": due_on, "reason": "企业停业"},
            headers=bearer(served.coordinator),
            timeout=60,
        )

    return list(one_after_the_other(served.engine, "due_change", lambda: post(first),
                                    lambda: post(second)))  # fmt: skip


def _stored(engine: sa.Engine) -> list[tuple[int, str, str]]:
    with Session(engine) as s:
        rows = s.exec(select(DueChange).order_by(col(DueChange.n))).all()
        return [(r.n, r.old_due_on.isoformat(), r.due_on.isoformat()) for r in rows]


def test_two_dates_at_once_are_both_recorded_in_turn(served: Served) -> None:
    code = sorted(served.teams)[0]
    one, two = _both(served, code, FIRST, SECOND)
    assert (one.status_code, two.status_code) == (201, 201), (one.text, two.text)
    said = [(r.json()["n"], r.json()["old_due_on"], r.json()["due_on"]) for r in (one, two)]
    assert said == [(1, "2026-12-31", FIRST), (2, FIRST, SECOND)]
    assert _stored(served.engine) == said
    bundle.recompute(served.engine, ROUND)


def test_the_same_date_twice_at_once_is_recorded_once(served: Served) -> None:
    code = sorted(served.teams)[0]
    one, two = _both(served, code, FIRST, FIRST)
    assert one.status_code == 201, one.text
    assert two.status_code == 422, two.text
    assert two.headers["content-type"] == "application/problem+json"
    assert two.json()["type"].endswith("due-date-due-same")
    assert [e["field"] for e in two.json()["errors"]] == ["body.due_on"]
    assert _stored(served.engine) == [(1, "2026-12-31", FIRST)]
    bundle.recompute(served.engine, ROUND)
