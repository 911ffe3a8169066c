"""Writers of one finding at the same moment, through a real server: one wins, the others get
409 naming the version that won; concurrent sign-offs all count, once each; never a 500."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from findings import service
from findings.models import FindingSignoff
from notifications.links import assignment_token
from rounds import audit
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import Call, race, serve

CLIENTS = 8
REPEATS = 4
BODY = {"result": "no_problem", "check_date": "2026-12-10"}


def _conflicts_name(responses: list[httpx.Response], version: int, by: str) -> None:
    for r in responses:
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 409 and f"version {version}" in body["detail"]
        named = body["latest_version"]
        assert named["version"] == version and named["submitted_by"] == by
        assert named["submitted_at"]


def _one_wins(responses: list[httpx.Response]) -> tuple[httpx.Response, list[httpx.Response]]:
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 409: len(responses) - 1}, [(r.status_code, r.text) for r in responses]
    won = next(r for r in responses if r.status_code == 201)
    return won, [r for r in responses if r is not won]


def _signed_events(engine: sa.Engine, code: str, version: int) -> list[dict[str, Any]]:
    with Session(engine) as s:
        events = [
            json.loads(e.payload) for e in audit.load_chain(s, ROUND) if e.event == "FindingSigned"
        ]
    return [e for e in events if e["credit_code"] == code and e["version"] == version]


def test_concurrent_submissions_corrections_and_sign_offs(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    secret = get_settings().secret_key.get_secret_value()
    coordinators = {
        f"coordinator:{name}": tokens.create_coordinator(engine, name, get_settings().bureau_code)
        for name in ("王五", "赵六")
    }
    app = create_app(engine=engine)
    with serve(app) as base:
        for code, team in sorted(teams.items())[:REPEATS]:
            url = f"/findings/{ROUND}/{code}"
            members = {f"inspector:{i}": assignment_token(secret, ROUND, code, i) for i in team}
            writers = list({**members, **coordinators}.items())

            # first versions, each different: one is version 1, the others are told so
            calls = [
                Call("POST", url, writers[i % len(writers)][1], {**BODY, "description": f"#{i}"})
                for i in range(CLIENTS)
            ]
            won, lost = _one_wins(race(base, calls))
            first = service.history(engine, ROUND, code).versions
            assert len(first) == 1 and won.json()["version"] == 1
            assert first[0].description == calls[int(first[0].description[1:])].json["description"]  # type: ignore[index]
            _conflicts_name(lost, 1, first[0].submitted_by)

            # corrections of version 1 by coordinators: one is version 2
            calls = [
                Call(
                    "POST",
                    url,
                    list(coordinators.values())[i % 2],
                    {**BODY, "result": "other", "reason": f"更正 {i}"},
                    {"base_version": 1},
                )
                for i in range(CLIENTS)
            ]
            won, lost = _one_wins(race(base, calls))
            versions = service.history(engine, ROUND, code).versions
            assert [v.version for v in versions] == [1, 2] and won.json()["version"] == 2
            _conflicts_name(lost, 2, versions[1].submitted_by)

            # each member signs version 2 several times at once: each signs once, final once
            calls = [
                Call("POST", f"{url}/versions/2/sign-off", list(members.values())[i % 2])
                for i in range(CLIENTS)
            ]
            responses = race(base, calls)
            assert [r.status_code for r in responses] == [200] * CLIENTS, [
                r.text for r in responses
            ]
            assert any(r.json()["final"] for r in responses)
            with Session(engine) as s:
                rows = s.exec(
                    select(FindingSignoff).where(FindingSignoff.version_id == versions[1].id)
                ).all()
            assert sorted(r.inspector_id for r in rows) == sorted(team)
            events = _signed_events(engine, code, 2)
            assert sorted(e["inspector_id"] for e in events) == sorted(team)
            assert [e["final"] for e in events].count(True) == 1
            assert service.history(engine, ROUND, code).public.version == 2  # type: ignore[union-attr]


def test_both_members_sending_the_same_version_at_once_sign_it(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    secret = get_settings().secret_key.get_secret_value()
    app = create_app(engine=engine)
    with serve(app) as base:
        for code, team in sorted(teams.items())[-2:]:
            url = f"/findings/{ROUND}/{code}"
            members = [assignment_token(secret, ROUND, code, i) for i in team]
            calls = [Call("POST", url, members[i % 2], BODY) for i in range(CLIENTS)]
            responses = race(base, calls)
            assert [r.status_code for r in responses] == [201] * CLIENTS, [
                r.text for r in responses
            ]
            assert {r.json()["version"] for r in responses} == {1}
            hist = service.history(engine, ROUND, code)
            assert len(hist.versions) == 1 and hist.states[0].signed_by == tuple(sorted(team))
            signed = _signed_events(engine, code, 1)
            assert [e["final"] for e in signed] == [True]  # the member who came second
