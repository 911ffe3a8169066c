"""A streamed body past the limit on a route that does not read its body, on a real ``shuangsui
serve``: the route does not run, the answer is 413, and the server stops reading (it used to
answer the route's own 200, 401, 404 or 405 and then read and discard all 200 MiB, and a
sign-off sent so was recorded). On a route with a larger limit of its own, refused before it
reads its body, the refusal closes the connection the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from findings import service
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.api.served import MiB, Pushed, Served, head, push_chunked, serve
from tests.findings.factories import ROUND, drawn_round, finding

HUGE = 200 * MiB
READ_AT_MOST = 32 * MiB  # the limit (1 MiB) and what the kernel's buffers take on loopback


@pytest.fixture
def world(engine: sa.Engine, tmp_path: Path) -> Iterator[tuple[Served, str, str]]:
    """A server; an assignment with version 1 submitted by its lead; the second member's token."""
    code, team = next((c, t) for c, t in sorted(drawn_round(engine).items()) if len(t) > 1)
    service.submit(
        engine,
        round_key=ROUND,
        credit_code=code,
        data=finding(),
        submitted_by=f"inspector:{team[0]}",
        signers=[team[0]],
    )
    secret = get_settings().secret_key.get_secret_value()
    token = assignment_token(secret, ROUND, code, team[1])
    env = {
        "SHUANGSUI_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "SHUANGSUI_ENVIRONMENT": "test",
    }
    with serve(tmp_path, env) as server:
        yield server, code, token


def _refused_unread(pushed: Pushed, status: int = 413) -> None:
    assert pushed.status == status, pushed
    assert pushed.headers.get("connection") == "close", pushed.headers
    assert pushed.closed, "the server kept the connection open, reading the body"
    assert pushed.sent < READ_AT_MOST, f"the server took {pushed.sent / MiB:.0f} MiB"


def test_a_sign_off_with_a_200_mib_streamed_body_is_not_performed(
    world: tuple[Served, str, str],
) -> None:
    server, code, token = world
    path = f"/findings/{ROUND}/{code}/versions/1/sign-off"
    auth = {"Authorization": f"Bearer {token}"}
    _refused_unread(push_chunked(server, head("POST", path, auth), HUGE))
    read = httpx.get(f"{server.url}/findings/{ROUND}/{code}", headers=auth).json()
    assert len(read["versions"][0]["signed_by"]) == 1, "the sign-off was recorded"
    # a streamed body within the limit: the sign-off runs, and the connection stays usable
    with httpx.Client(base_url=server.url, headers=auth) as client:
        r = client.post(path, content=iter([b"{}"]))  # an iterator: sent chunked
        assert r.status_code == 200 and r.json()["missing"] == [], r.text
        assert "close" not in r.headers.get("connection", "")
        assert client.get(f"/findings/{ROUND}/{code}").json()["final_version"] == 1


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/health"),  # 405
        ("POST", "/exchange/v1/checkpoint"),  # 405 (a partner route)
        ("POST", "/no/such/route"),  # 404
        ("POST", f"/findings/{ROUND}/x/versions/1/sign-off"),  # 401
        ("POST", f"/w/a/{ROUND}/x/sign"),  # 401 (a workspace page)
    ],
)
def test_every_route_refuses_a_200_mib_streamed_body_unread(
    world: tuple[Served, str, str], method: str, path: str
) -> None:
    server, _, _ = world
    _refused_unread(push_chunked(server, head(method, path), HUGE))
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_a_larger_limit_route_refusing_before_its_body_closes_the_connection(
    world: tuple[Served, str, str],
) -> None:
    """Evidence uploads stream their body (25 MiB limit): no token is a 401, and the server
    reads no more of the body than it had when it answered."""
    server, code, _ = world
    pushed = push_chunked(server, head("POST", f"/findings/{ROUND}/{code}/evidence"), HUGE)
    _refused_unread(pushed, status=401)
    pushed = push_chunked(server, head("POST", f"/w/c/rounds/{ROUND}/import"), HUGE)
    _refused_unread(pushed, status=401)
