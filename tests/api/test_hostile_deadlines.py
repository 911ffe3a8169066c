"""Paging parameters given twice on ``GET /deadlines`` and ``GET /rounds`` (api/paging.py), on a
real server on loopback: the last one was taken (``limit=700&limit=2`` a page of 2,
``all=true&all=false`` the late ones only, two ``after`` the second page), while a cache or a
proxy in front may key on the first. Each is now a 422 naming the parameter."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.findings.factories import drawn_round
from tests.findings.live import serve


@pytest.fixture
def desk(engine: sa.Engine) -> Iterator[tuple[str, dict[str, str]]]:
    """A served app with a drawn round, and a coordinator's Authorization header."""
    drawn_round(engine)
    ssc = tokens.create_coordinator(engine, "王五", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base:
        yield base, {"Authorization": f"Bearer {ssc}"}


def _next_page(base: str, auth: dict[str, str]) -> str:
    """The ``after`` of the deadlines' second page of 2."""
    first = httpx.get(f"{base}/deadlines?all=true&limit=2", headers=auth)
    return str(httpx.URL(first.links["next"]["url"]).params["after"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=700&limit=2", "query.limit"),
        ("limit=2&limit=2", "query.limit"),
        ("all=true&all=false&limit=2", "query.all"),
        ("limit=2&after={after}&after={after}", "query.after"),
    ],
)
def test_a_parameter_given_twice_is_refused_naming_it(
    desk: tuple[str, dict[str, str]], query: str, field: str
) -> None:
    base, auth = desk
    query = query.format(after=_next_page(base, auth))
    for path in ("/deadlines", "/rounds"):
        if field == "query.all" and path == "/rounds":
            continue  # the rounds' list has no filter
        r = httpx.get(f"{base}{path}?{query}", headers=auth)
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == [field], (path, r.text)
        assert "more than once" in r.json()["detail"]
