"""The coordinator's lists come a page at a time: after five years a bureau's ``GET /rounds``,
``GET /leads`` and ``GET /deadlines`` answered every row they ever held (122 rounds, 305 leads,
5,780 results), growing without end. Each answers ``limit`` rows (default 100, at most 500)
and the next page's address in ``Link: <…>; rel="next"``; walked to its end, a list sends each
row once, also when rows are added between two pages (``api.paging``)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from rounds.models import Assignment, Round
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class Desk:
    """A coordinator's client of the API, over one drawn round."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.teams = drawn_round(engine)
        token = tokens.create_coordinator(engine, "王五", get_settings().bureau_code)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.client = TestClient(create_app(engine=engine))

    def get(self, url: str, **params: Any) -> httpx.Response:
        return self.client.get(url, params=params, headers=self.auth)

    def walk(self, url: str, between: Any = None, **params: Any) -> list[list[dict[str, Any]]]:
        """Every page of a list, following its next links; ``between(n)`` after page n."""
        pages = []
        r = self.get(url, **params)
        while True:
            assert r.status_code == 200, r.text
            pages.append(r.json())
            if "next" not in r.links:
                return pages
            if between is not None:
                between(len(pages))
            r = self.client.get(r.links["next"]["url"], headers=self.auth)

    def lead(self, code: str) -> int:
        body = {"source": "complaint", "credit_code": code, "category": "虚假认证",
                "received_on": "2026-11-02"}  # fmt: skip
        r = self.client.post("/leads", json=body, headers=self.auth)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def rounds_like_this_one(self, keys: list[str], committed_at: dt.datetime) -> None:
        """More drawn rounds, copies of ``ROUND`` (its assignments too) committed at one time."""
        with Session(self.engine) as session:
            model = session.get(Round, ROUND)
            assert model is not None
            rows = session.exec(select(Assignment).where(Assignment.round_key == ROUND)).all()
            for key in keys:
                fields = {"round_key": key, "period": key, "committed_at": committed_at}
                session.add(Round.model_validate(model.model_dump() | fields))
                session.flush()
                session.add_all(Assignment(**a.model_dump() | {"round_key": key}) for a in rows)
            session.commit()


@pytest.fixture
def desk(engine: sa.Engine) -> Desk:
    return Desk(engine)


def _once(pages: list[list[dict[str, Any]]], key: Any) -> list[Any]:
    """The keys of the rows of ``pages``, in order; each must come once."""
    keys = [key(row) for page in pages for row in page]
    assert [k for k, n in Counter(keys).items() if n > 1] == []
    return keys


T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def test_rounds_come_newest_first_a_page_at_a_time_each_once(desk: Desk) -> None:
    desk.rounds_like_this_one(["r-a", "r-b", "r-c"], T0)  # one time: the key breaks the tie
    desk.rounds_like_this_one(["r-d"], T0 + dt.timedelta(microseconds=1))
    desk.rounds_like_this_one(["r-e", "r-f"], T0 - dt.timedelta(days=30))
    everything = [r["round_key"] for r in desk.get("/rounds").json()]
    assert len(everything) == 7 and everything[:2] == [ROUND, "r-d"]  # newest first

    def meanwhile(page: int) -> None:
        if page == 1:  # a round committed now: the next walk's first page
            desk.rounds_like_this_one(["r-new"], dt.datetime.now(dt.UTC))
        if page == 2:  # a round behind the point reached: on a later page, once
            desk.rounds_like_this_one(["r-old"], T0 - dt.timedelta(days=400))

    pages = desk.walk("/rounds", meanwhile, limit=2)
    assert [len(p) for p in pages] == [2, 2, 2, 2]
    assert _once(pages, lambda r: r["round_key"]) == [*everything, "r-old"]
    assert desk.get("/rounds", limit=1).json()[0]["round_key"] == "r-new"


def test_leads_come_oldest_first_and_those_received_meanwhile_at_the_end(desk: Desk) -> None:
    codes = sorted(desk.teams)
    made = [desk.lead(codes[n % len(codes)]) for n in range(7)]
    added: list[int] = []

    def meanwhile(page: int) -> None:
        if page < 3:
            added.append(desk.lead(codes[page]))

    pages = desk.walk("/leads", meanwhile, limit=3)
    assert _once(pages, lambda lead: lead["id"]) == made + added
    assert [len(p) for p in pages] == [3, 3, 3]  # no link after a page that ends the list

    r = desk.get("/leads", status="received", limit=4)
    assert r.links["next"]["url"].startswith("/leads?status=received&limit=4&after=")
    assert desk.get("/leads", status="merged", limit=1).json() == []


def test_deadlines_come_earliest_first_a_page_at_a_time_each_once(desk: Desk) -> None:
    everything = desk.get("/deadlines", all="true").json()
    assert len(everything) == len(desk.teams) > 10  # a finding due from each team

    def meanwhile(page: int) -> None:
        if page == 1:  # due as the rest, from rounds either side of the point reached
            desk.rounds_like_this_one(["aaa-2026-12", "zzz-2026-12"], T0)

    pages = desk.walk("/deadlines", meanwhile, all="true", limit=5)
    keys = _once(pages, lambda i: (i["due"], i["round_key"], i["credit_code"]))
    assert keys == sorted(keys)
    later = [k for k in keys if k[1] == "zzz-2026-12"]
    assert keys == [(i["due"], i["round_key"], i["credit_code"]) for i in everything] + later
    assert len(later) == len(desk.teams) and not any(k[1] == "aaa-2026-12" for k in keys)
    assert (
        desk.get("/deadlines", all="true", limit=5)
        .headers["link"]
        .startswith("</deadlines?all=true&limit=5&after=")
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "501"}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"after": "not a page"}, "query.after"),
        ({"after": "WzFd"}, "query.after"),  # [1]: a page of the leads, not of this list
        ({"after": "x" * 1001}, "query.after"),
        # ["0001-01-01T00:00:00+14:00", "x"]: a time before year 1 in UTC
        ({"after": "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwieCJd"}, "query.after"),
    ],
)
def test_a_bad_limit_or_page_is_a_422_naming_it(
    desk: Desk, params: dict[str, str], field: str
) -> None:
    for url in ("/rounds", "/deadlines"):
        r = desk.get(url, **params)
        assert r.status_code == 422, (url, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == [field]
    assert desk.get("/leads", limit="501").json()["errors"][0]["field"] == "query.limit"
    for after in ("WyJ4Il0", "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDBd"):  # ["x"], [10**30]
        assert desk.get("/leads", after=after).json()["errors"][0]["field"] == "query.after"
