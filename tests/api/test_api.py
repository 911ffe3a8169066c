"""Every route, every role: what each may reach and what it must not."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Depends

from api import tokens
from api.app import create_app, include_router
from api.auth import Role, allow
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.servers import serve_app

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BODY = {"result": "no_problem", "check_date": "2026-12-10", "internal_note": "内部"}


class World:
    def __init__(self, engine: sa.Engine):
        self.teams = drawn_round(engine)
        (self.a, self.ta), (self.b, self.tb) = sorted(self.teams.items())[:2]
        secret = get_settings().secret_key.get_secret_value()
        self.lead = assignment_token(secret, ROUND, self.a, self.ta[0])
        self.second = assignment_token(secret, ROUND, self.a, self.ta[1])
        self.coord = tokens.create_coordinator(engine, "王五", get_settings().bureau_code)
        self.foreign = tokens.create_coordinator(engine, "外省", "320000")
        self.adhoc_calls: list[dict[str, Any]] = []
        self.app = create_app(engine=engine, adhoc_runner=self._adhoc)
        self.client = TestClient(self.app)

    def _adhoc(self, params: dict[str, Any]) -> dict[str, Any]:
        self.adhoc_calls.append(params)
        return {"mode": "test", "flow_run_id": None, "state": "scheduled"}

    def call(self, method: str, url: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, url, headers=headers, **kw)


@pytest.fixture
def world(engine: sa.Engine) -> World:
    return World(engine)


def test_every_route_declares_a_role_or_the_app_refuses_to_start(engine: sa.Engine) -> None:
    app = create_app(engine=engine)
    assert all(app.state.route_roles.values())
    unguarded = APIRouter()

    @unguarded.get("/oops")
    def oops() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="GET /oops"):
        create_app(engine=engine, routers=[unguarded])
    with pytest.raises(RuntimeError, match="GET /oops"):
        include_router(app, unguarded)
    guarded = APIRouter(dependencies=[Depends(allow(Role.coordinator))])

    @guarded.get("/partner/ok")
    def ok() -> dict[str, str]:
        return {}

    app2 = create_app(engine=engine, routers=[guarded])
    assert app2.state.route_roles["GET /partner/ok"] == {"coordinator"}


def test_role_matrix(world: World) -> None:
    a, b = f"/findings/{ROUND}/{world.a}", f"/findings/{ROUND}/{world.b}"
    routes = [
        ("GET", a),
        ("POST", a),
        ("POST", f"{a}/versions/1/sign-off"),
        ("POST", f"{a}/evidence"),
        ("GET", "/rounds"),
        ("GET", f"/rounds/{ROUND}/findings"),
        ("GET", "/deadlines"),
        ("POST", "/rounds/adhoc"),
        ("GET", f"/evidence/{'0' * 64}"),
    ]
    for method, url in routes:  # nobody: 401 everywhere but /health
        r = world.call(method, url)
        assert r.status_code == 401, (method, url)
        assert r.headers["content-type"] == "application/problem+json"
        assert "Bearer" in r.json()["detail"]
    assert world.call("GET", "/health").json() == {"status": "ok"}
    # an inspector: only their own assignment, never a coordinator route
    assert world.call("GET", a, world.lead).status_code == 200
    assert world.call("GET", f"{a}?token={world.lead}").status_code == 200  # the link form
    for method, url in [("GET", b), ("POST", b)] + routes[4:]:
        r = world.call(method, url, world.lead, json={})
        assert r.status_code == 403, (method, url)
    # a coordinator: everything of the bureau, but no sign-off or evidence upload
    for method, url in [
        ("GET", a),
        ("GET", "/rounds"),
        ("GET", f"/rounds/{ROUND}/findings"),
        ("GET", "/deadlines"),
    ]:
        assert world.call(method, url, world.coord).status_code == 200, (method, url)
    r = world.call("POST", f"{a}/versions/1/sign-off", world.coord)
    assert r.status_code == 403 and "coordinator may not" in r.json()["detail"]
    assert world.call("POST", f"{a}/evidence", world.coord, content=b"x").status_code == 403
    # another bureau's token, a revoked one, a made-up one
    assert world.call("GET", "/rounds", world.foreign).status_code == 403
    tokens.revoke(world.app.state.engine, "王五")
    assert world.call("GET", "/rounds", world.coord).status_code == 403
    assert world.call("GET", a, "f" * 64).status_code == 403


def test_submit_sign_off_and_correct(world: World) -> None:
    a = f"/findings/{ROUND}/{world.a}"
    r = world.call("POST", a, world.lead, json=BODY)
    assert r.status_code == 201 and r.json()["missing"] == [world.ta[1]]
    r = world.call("POST", f"{a}/versions/1/sign-off", world.second)
    assert r.json()["final"] is True
    r = world.call("POST", a, world.coord, json={**BODY, "result": "other"})
    assert r.status_code == 409 and "needs a reason" in r.json()["detail"]
    r = world.call("POST", a, world.coord, json={**BODY, "result": "other", "reason": "笔误"})
    assert r.json()["version"] == 2 and r.json()["missing"] == sorted(world.ta)
    hist = world.call("GET", a, world.lead).json()
    assert hist["final_version"] == 1 and len(hist["versions"]) == 2
    r = world.call("POST", a, world.lead, json={"result": "bogus", "check_date": "x"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in r.json()["errors"]} >= {"body.result", "body.check_date"}


def test_evidence_upload_limit_and_download(world: World, monkeypatch) -> None:
    a = f"/findings/{ROUND}/{world.a}"
    r = world.call(
        "POST",
        f"{a}/evidence?filename=p.jpg",
        world.lead,
        content=b"\xff\xd8\xffjpegbytes",
        headers={"Content-Type": "image/jpeg"},
    )
    assert r.status_code == 201
    digest = r.json()["sha256"]
    got = world.call("GET", f"/evidence/{digest}", world.coord)
    assert got.content == b"\xff\xd8\xffjpegbytes" and got.headers["content-type"] == "image/jpeg"
    r = world.call("POST", a, world.lead, json={**BODY, "evidence": [{"sha256": digest}]})
    assert r.status_code == 201
    monkeypatch.setenv("SHUANGSUI_EVIDENCE_MAX_BYTES", "4")
    r = world.call(
        "POST",
        f"{a}/evidence",
        world.lead,
        content=b"too long",
        headers={"Content-Type": "image/jpeg"},
    )
    assert r.status_code == 413 and "larger than 4 bytes" in r.json()["detail"]
    r = world.call(
        "POST",
        f"{a}/evidence",
        world.lead,
        content=b"x",
        headers={"Content-Type": "application/x-msdownload"},
    )
    assert r.status_code == 422 and "not accepted" in r.json()["detail"]


def test_adhoc_round_runs_for_the_coordinator(world: World) -> None:
    r = world.call(
        "POST",
        "/rounds/adhoc",
        world.coord,
        json={"plan": "ccc-2026-12", "reason": "投诉线索", "total_cap": 5},
    )
    assert r.status_code == 202
    assert world.adhoc_calls == [
        {"plan": "ccc-2026-12", "reason": "投诉线索", "total_cap": 5, "requested_by": "王五"}
    ]
    r = world.call("POST", "/rounds/adhoc", world.coord, json={"plan": "x"})
    assert r.status_code == 422 and "body.reason" in r.json()["detail"]


def test_adhoc_total_cap_past_what_a_plan_hash_holds_is_refused(world: World) -> None:
    """2**53 was answered 202; the round then stopped in the background (the plan's hash
    holds only exact JSON numbers), said only in the server's log."""
    body = {"plan": "ccc-2026-12", "reason": "投诉线索", "total_cap": 2**53}
    r = world.call("POST", "/rounds/adhoc", world.coord, json=body)
    assert r.status_code == 422 and "body.total_cap" in r.json()["detail"]
    assert world.adhoc_calls == []
    body["total_cap"] = 2**53 - 1
    assert world.call("POST", "/rounds/adhoc", world.coord, json=body).status_code == 202


def test_openapi_and_unknown_routes(world: World) -> None:
    doc = world.call("GET", "/openapi.json").json()
    assert "/findings/{round_key}/{credit_code}" in doc["paths"]
    r = world.call("GET", "/nowhere")
    assert r.status_code == 404 and "openapi.json" in r.json()["detail"]


@pytest.fixture
def live(world: World) -> Iterator[str]:
    with serve_app(world.app, lifespan="auto") as url:
        yield url


def test_real_server_on_loopback(world: World, live: str) -> None:
    with httpx.Client(base_url=live, timeout=10) as http:
        assert http.get("/health").json() == {"status": "ok"}
        url = f"/findings/{ROUND}/{world.a}"
        r = http.post(url, json=BODY, headers={"Authorization": f"Bearer {world.lead}"})
        assert r.status_code == 201
        r = http.get(f"/findings/{ROUND}/{world.b}", params={"token": world.lead})
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
