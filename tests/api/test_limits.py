"""Request bodies are bounded before authentication, on a real ``shuangsui serve`` process:
a 200 MB body is refused with 413 while the server's memory stays flat, and every list of a
finding is bounded (422 naming the field)."""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.servers import free_port, serve_process

MiB = 1 << 20
HUGE = 200 * MiB
CHUNK = 64 * 1024
EVIDENCE_LIMIT = 3 * MiB


@dataclass
class Server:
    pid: int
    port: int
    url: str
    token: str  # a team member's token for assignment ``code``
    code: str
    home: Path

    def memory(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server process in bytes."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
        return fields["VmRSS"], fields["VmHWM"]


@pytest.fixture
def server(engine: sa.Engine, tmp_path: Path) -> Iterator[Server]:
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    token = assignment_token(get_settings().secret_key.get_secret_value(), ROUND, code, team[0])
    port = free_port()
    env = os.environ | {
        "SHUANGSUI_HOME": str(tmp_path / "home"),
        "SHUANGSUI_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "SHUANGSUI_ENVIRONMENT": "test",
        "SHUANGSUI_EVIDENCE_MAX_BYTES": str(EVIDENCE_LIMIT),
    }
    log = tmp_path / "serve.log"
    with serve_process(env, port, log) as proc:
        url = f"http://127.0.0.1:{port}"
        yield Server(proc.pid, port, url, token, code, tmp_path / "home")


def _zeros(total: int) -> Iterator[bytes]:
    """``total`` bytes in chunks, made as they are sent (the test itself stays small)."""
    block = b"0" * CHUNK
    for start in range(0, total, CHUNK):
        yield block[: min(CHUNK, total - start)]


def _chunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def _exchange(server: Server, head: str, body: Iterable[bytes]) -> tuple[int, dict, int]:
    """Send ``head`` and then ``body`` until the server answers (or stops reading); return the
    status, the JSON body of the answer and how many body bytes were sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head.encode("ascii"))
        for chunk in body:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer is there: stop sending, as a polite client would
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        data = b""
        try:
            while part := sock.recv(65536):
                data += part
        except ConnectionResetError:
            pass
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    return status, json.loads(payload or b"{}"), sent


def _head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def _assert_refused(server: Server, head: str, body: Iterable[bytes], limit: int) -> int:
    httpx.get(f"{server.url}/health")  # warm: every module the request path needs is loaded
    rss_before, _ = server.memory()
    status, problem, sent = _exchange(server, head, body)
    _, peak_after = server.memory()
    assert status == 413, (status, problem)
    assert problem["status"] == 413 and f"larger than {limit} bytes" in problem["detail"]
    grew = peak_after - rss_before
    assert grew < 50 * MiB, f"server memory grew by {grew / MiB:.0f} MiB"
    assert sent < HUGE // 4, f"the server read {sent / MiB:.0f} MiB before refusing"
    assert httpx.get(f"{server.url}/health").status_code == 200  # and it still serves
    return grew


def test_anonymous_200_mb_bodies_are_refused_unread(server: Server) -> None:
    """Before authentication: a declared length at once, a chunked body as it passes 1 MiB."""
    path = f"/findings/{ROUND}/{server.code}"
    json_type = {"Content-Type": "application/json"}
    head = _head("POST", path, json_type | {"Content-Length": str(HUGE)})
    _assert_refused(server, head, _zeros(HUGE), MiB)
    head = _head("POST", path, json_type | {"Transfer-Encoding": "chunked"})
    _assert_refused(server, head, _chunked(_zeros(HUGE)), MiB)


def test_evidence_has_its_own_larger_limit(server: Server) -> None:
    path = f"/findings/{ROUND}/{server.code}/evidence"
    auth = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/pdf"}
    pdf = [b"%PDF-1.7\n"]  # what a PDF opens with: its bytes are checked against its type
    head = _head("POST", path, auth | {"Transfer-Encoding": "chunked"})
    _assert_refused(server, head, _chunked(itertools.chain(pdf, _zeros(HUGE))), EVIDENCE_LIMIT)
    head = _head("POST", path, auth | {"Content-Length": str(HUGE)})
    _assert_refused(server, head, _zeros(HUGE), EVIDENCE_LIMIT)
    assert list((server.home / "evidence").glob(".upload-*")) == [], "no partial file is left"
    # 2 MiB: over the JSON limit, within the evidence limit
    r = httpx.post(f"{server.url}{path}", headers=auth, content=b"%PDF-" + b"0" * (2 * MiB))
    assert r.status_code == 201, r.text
    # and a JSON route refuses the same 2 MiB (SHUANGSUI_API_MAX_BODY_BYTES, 1 MiB by default)
    body = {"result": "no_problem", "check_date": "2026-12-10", "description": "x" * (2 * MiB)}
    token = {"Authorization": f"Bearer {server.token}"}
    r = httpx.post(f"{server.url}/findings/{ROUND}/{server.code}", json=body, headers=token)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:shuangsui:problem:body-too-large"


def test_a_finding_with_20000_measures_is_422_naming_the_field(server: Server) -> None:
    path = f"/findings/{ROUND}/{server.code}"
    body = {
        "result": "ordered_to_rectify",
        "check_date": "2026-12-10",
        "measures": [{"kind": "rectify_now"}] * 20_000,
    }
    assert len(json.dumps(body)) < MiB  # under the body limit: the schema must refuse it
    auth = {"Authorization": f"Bearer {server.token}"}
    r = httpx.post(f"{server.url}{path}", json=body, headers=auth)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == ["body.measures"]
    assert "at most 20 items" in r.json()["detail"]
    assert httpx.get(f"{server.url}{path}", headers=auth).json()["versions"] == []
