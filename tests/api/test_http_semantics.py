"""HTTP as RFC 9110 says, on a real ``shuangsui serve`` over raw sockets: a client that hangs
up mid-body is one warning line, no answer sends a client to a URL built from its ``Host``
header, a 405 says what is allowed, ``HEAD`` is answered as ``GET`` without the body."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Query

from api import problems
from api.app import create_app
from shuangsui import db
from tests.exchange.bureaus import AppTransport
from tests.servers import free_port, serve_process, wait_until, wait_until_read

HOSTILE = "evil.example"


@dataclass
class Served:
    url: str
    port: int
    log: Path
    database: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One ``shuangsui serve`` on SQLite for the module (nothing here depends on the database)."""
    home = tmp_path_factory.mktemp("serve")
    database = f"sqlite:///{home / 'shuangsui.db'}"
    port = free_port()
    env = os.environ | {
        "SHUANGSUI_HOME": str(home),
        "SHUANGSUI_DATABASE_URL": database,
        "SHUANGSUI_ENVIRONMENT": "test",
    }
    log = home / "serve.log"
    with serve_process(env, port, log):
        yield Served(f"http://127.0.0.1:{port}", port, log, database)


def _raw(served: Served, head: str, body: bytes = b"") -> bytes:
    """Send ``head`` (and ``body``) on a fresh connection; everything the server answers."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=20) as sock:
        sock.sendall(head.encode("ascii") + body)
        data = b""
        while part := sock.recv(65536):
            data += part
    return data


def _said(log: Path, start: int) -> str:
    return log.read_text(errors="replace")[start:]


# ------------------------------------------------------------------ a client that hangs up
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/exchange/v1/entries"), ("POST", "/exchange/v1/joint/j-1/statements")],
)
def test_a_client_hanging_up_mid_body_is_one_warning(
    served: Served, method: str, path: str
) -> None:
    """No signature needed: the body is read before it is checked. One line, no traceback,
    nothing stored (no nonce), and the server goes on serving."""
    start = served.log.stat().st_size
    with socket.create_connection(("127.0.0.1", served.port), timeout=20) as sock:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
        sock.sendall(head.encode() + b"abc")
        wait_until_read(sock)  # the app is reading the body when the client leaves
    line = f"{method} {path}: the client closed the connection before the end of its body"
    wait_until(f"{line!r} in {served.log}", lambda: line in _said(served.log, start))
    said = _said(served.log, start)
    for trace in ("Traceback", "unexpected error", "Exception in ASGI application"):
        assert trace not in said, said
    engine = db.make_engine(served.database)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM exchange_nonce")).scalar() == 0
    finally:
        engine.dispose()
    assert httpx.get(f"{served.url}/health").status_code == 200


# ------------------------------------------------------------------ no redirect by Host
def _paths() -> list[str]:
    """Every route of the app, its parameters filled in, as written and with the trailing
    slash added or removed."""
    app = create_app(engine=sa.create_engine("sqlite://"))
    found = set()
    for key in app.state.route_roles:
        path = re.sub(r"\{[^}]+\}", "x", key.split(" ", 1)[1])
        found |= {path, path.rstrip("/") or "/", path + "/" if not path.endswith("/") else path}
    return sorted(found)


def test_no_answer_builds_a_location_from_the_host_header(served: Served) -> None:
    """Starlette's trailing-slash redirect built its ``Location`` from ``Host``, before any
    route's authentication: now a route answers at exactly its path, and the only redirects
    (the workspace's, after a form) name a path of this server."""
    answers = 0
    for path in _paths():
        for method in ("GET", "HEAD", "POST"):
            head = f"{method} {path} HTTP/1.1\r\nHost: {HOSTILE}\r\nContent-Length: 0\r\n"
            data = _raw(served, head + "Connection: close\r\n\r\n")
            headers = data.partition(b"\r\n\r\n")[0].decode("latin-1")
            answers += 1
            for location in re.findall(r"(?im)^location:\s*(\S*)", headers):
                assert location.startswith("/") and not location.startswith("//"), (path, headers)
            assert HOSTILE not in headers, (method, path, headers)
    assert answers > 100
    slash = httpx.get(f"{served.url}/exchange/v1/checkpoint/", headers={"Host": HOSTILE})
    assert slash.status_code == 404 and "location" not in slash.headers
    assert slash.headers["content-type"] == problems.MEDIA_TYPE


# ------------------------------------------------------------------ 405 and HEAD
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/exchange/v1/checkpoint", "GET, HEAD"),
        ("DELETE", "/exchange/v1/entries", "GET, HEAD"),
        ("PUT", "/health", "GET, HEAD"),
        ("GET", "/exchange/v1/joint/j-1/statements", "POST"),
        ("HEAD", "/leads/7/accept", "POST"),
        ("DELETE", "/findings/r-1/91350100MA0000000X", "GET, HEAD, POST"),  # two routes
        ("DELETE", "/w/a/r-1/91350100MA0000000X", "GET, HEAD, POST"),  # a page, not JSON
        ("POST", "/docs/assets/swagger-ui.css", "GET, HEAD"),  # static files
    ],
)
def test_a_405_says_what_is_allowed(served: Served, method: str, path: str, allow: str) -> None:
    r = httpx.request(method, served.url + path)
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == allow
    if not path.startswith("/w/") and method != "HEAD":
        assert r.json()["detail"] == f"{method} is not allowed on {path}"


@pytest.mark.parametrize(
    "path", ["/health", "/openapi.json", "/docs", "/docs/assets/swagger-ui.css", "/w/c/"]
)
def test_head_is_answered_as_get_without_a_body(served: Served, path: str) -> None:
    got = httpx.get(served.url + path)
    data = _raw(served, f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert (status, body) == (got.status_code, b"")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    assert length is not None and int(length[1]) == len(got.content)


# ------------------------------------------------------------------ 422 shapes
def test_parameter_routes_name_the_parameter_first_others_keep_their_shape() -> None:
    """``ParameterRoute`` (the partner exchange's) answers ``invalid-parameter`` with the
    parameter first; every other route keeps ``invalid-fields``."""
    app = FastAPI()
    problems.install(app)
    plain, strict = APIRouter(), APIRouter(route_class=problems.ParameterRoute)

    @plain.get("/plain")
    @strict.get("/strict")
    def _route(start: int = Query(ge=0)) -> dict[str, int]:
        return {"start": start}

    app.include_router(plain)
    app.include_router(strict)
    client = httpx.Client(transport=AppTransport(app), base_url="http://t")
    doc = _invalid(client.get("/strict?start=-1"))
    assert doc["type"] == "urn:shuangsui:problem:invalid-parameter"
    assert doc["detail"].startswith("start: ")
    assert [e["field"] for e in doc["errors"]] == ["query.start"]
    doc = _invalid(client.get("/plain?start=-1"))
    assert doc["type"] == "urn:shuangsui:problem:invalid-fields"
    assert doc["detail"].startswith("fix these fields and send again: query.start: ")


def _invalid(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422 and r.headers["content-type"] == problems.MEDIA_TYPE
    doc: dict[str, Any] = r.json()
    return doc
