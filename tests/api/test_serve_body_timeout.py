"""A request body that stops is closed after ``SHUANGSUI_SERVE_BODY_TIMEOUT_SECONDS`` without
a byte (``api.connections.BoundedH11``); a slow one is not, however long it takes. Before,
uvicorn had no timer between reads: a body cut short by a client that never said so (a phone
out of coverage), or a chunk announcing more than follows, held its connection, and its place
under ``SHUANGSUI_SERVE_MAX_CONNECTIONS``, for ever. On a real ``shuangsui serve`` process."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.api.served import drip, serve

ENV = {
    "SHUANGSUI_SERVE_BODY_TIMEOUT_SECONDS": "2",
    "SHUANGSUI_SERVE_HEADER_TIMEOUT_SECONDS": "30",
    "SHUANGSUI_SERVE_KEEP_ALIVE_SECONDS": "30",
}
# a route that reads its body before anything else (FastAPI parses it before the guard)
HEAD = "POST /findings/ccc-2026-12/91350100ANBKFJRE2E HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _open_for(sock: socket.socket, within: float, start: float) -> tuple[float, bytes]:
    """Seconds from ``start`` (taken before the request was sent, so that a client held up
    by a loaded machine never measures the server's timer short) until the server closes
    ``sock`` (``within`` if it has not), and what it answered."""
    answer = b""
    sock.settimeout(0.25)
    while time.monotonic() - start < within:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            data = b""
        if not data:
            return time.monotonic() - start, answer
        answer += data
    return within, answer


def test_a_body_that_stops_is_closed_and_a_slow_one_is_not(tmp_path: Path) -> None:
    with serve(tmp_path, ENV) as server:
        with server.connect() as cut:  # 3 bytes of 100, then nothing
            start = time.monotonic()
            cut.sendall(
                f"{HEAD}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{}}".encode()
            )
            spent, answer = _open_for(cut, 10, start)
            assert 1.8 < spent < 6 and answer == b"", (spent, answer)
        with server.connect() as lying:  # a chunk of 65,535 bytes announced, 2 sent
            start = time.monotonic()
            lying.sendall(f"{HEAD}Transfer-Encoding: chunked\r\n\r\nffff\r\n{{}}".encode())
            spent, answer = _open_for(lying, 10, start)
            assert 1.8 < spent < 6 and answer == b"", (spent, answer)
        with server.connect() as slow:  # 16 bytes, one each 0.25 s: 4 s, no pause near 2 s
            slow.sendall(
                f"{HEAD}Content-Type: application/json\r\nContent-Length: 16\r\n\r\n".encode()
            )
            start = time.monotonic()
            answer = drip(slow, 16, 0.25)
            slow.settimeout(10)
            while b"\r\n\r\n" not in answer and (data := slow.recv(65536)):
                answer += data
            assert time.monotonic() - start > 3.5, answer  # read whole, slowly
            assert answer.startswith(b"HTTP/1.1 4"), answer  # answered (a body of blanks)
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        assert "Traceback" not in server.log.read_text(encoding="utf-8", errors="replace")


def test_a_client_that_stops_reading_its_answers_is_closed(tmp_path: Path) -> None:
    """Answers asked for and not read (a hundred pipelined, the client's buffer small): the
    server, its buffer full, waits for the client to read; a silence as long as the body's
    closes the connection, as a body's does. Before, it held its connection (and a place
    under ``SHUANGSUI_SERVE_MAX_CONNECTIONS``) for as long as the client liked."""
    with serve(tmp_path, ENV) as server:
        with server.connect() as deaf:
            deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            deaf.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 100)
            time.sleep(6)  # reading nothing: the server's writing waits, then gives up
            got, ended = 0, False
            deaf.settimeout(5)
            try:
                while data := deaf.recv(65536):
                    got += len(data)
            except ConnectionResetError:
                ended = True
            except TimeoutError:  # the server still holds the connection, waiting to send
                pass
            else:
                ended = True
            whole = len(httpx.get(f"{server.url}/openapi.json", timeout=10).content) * 100
            assert ended and got < whole, (ended, got, whole)


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_the_body_timeout_must_be_a_positive_number(value: str) -> None:
    from pydantic import ValidationError

    from shuangsui.config import Settings

    with pytest.raises(ValidationError, match="serve_body_timeout_seconds"):
        Settings(serve_body_timeout_seconds=value)  # type: ignore[arg-type]
