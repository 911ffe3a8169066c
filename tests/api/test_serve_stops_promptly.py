"""``shuangsui serve`` told to stop (SIGTERM, SIGINT) stops within a few seconds whatever its
clients do, and answers the request whose body is still arriving.

uvicorn stops by letting each request in progress end. A request whose body had stopped
arriving (a client cut off mid-upload, or one that sends a head and part of a body and waits)
was only ended by the body's silence timer (``SHUANGSUI_SERVE_BODY_TIMEOUT_SECONDS``, 120 s):
until then the server, told to stop, did not; a ``systemctl stop`` waited, then killed it.
A client that did not read its answers held the stop for ever. Now, once told to stop, a
body that pauses for ``api.connections.STOP_SILENCE`` seconds is closed (the route sees its
client gone), one still arriving is read whole and answered, and a connection still open
``STOP_MOST`` seconds after the stop is dropped. On a real ``shuangsui serve`` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.connections import STOP_SILENCE
from tests.api.served import drip
from tests.servers import free_port, serve_process, wait_until_held, wait_until_read

# a route that reads its body before anything else (tests/api/test_serve_body_timeout.py)
HEAD = "POST /findings/ccc-2026-12/91350100ANBKFJRE2E HTTP/1.1\r\nHost: 127.0.0.1\r\n"
ENV = {"SHUANGSUI_SERVE_BODY_TIMEOUT_SECONDS": "60"}  # the old stop: a minute, at least
STOPPED_WITHIN = 10  # seconds: the silence, uvicorn's turn and the process's exit, loaded


@contextmanager
def _serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port, log = free_port(), tmp_path / "serve.log"
    env = os.environ | {"SHUANGSUI_HOME": str(tmp_path / "home")} | ENV
    with serve_process(env, port, log) as proc:
        yield proc, port, log


def _stopped(proc: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds until ``proc`` exits; it must exit 0 within :data:`STOPPED_WITHIN`."""
    start = time.monotonic()
    try:
        code = proc.wait(STOPPED_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve still running {STOPPED_WITHIN} s after SIGTERM:\n{log.read_text()}")
    assert code == 0, log.read_text()
    return time.monotonic() - start


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_body_that_stopped_does_not_hold_the_stop(tmp_path: Path, sig: signal.Signals) -> None:
    with _serving(tmp_path) as (proc, port, log):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as cut:
            cut.sendall(
                f"{HEAD}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{}}".encode()
            )  # 2 bytes of 100, then nothing
            with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
                idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert idle.recv(65536).startswith(b"HTTP/1.1 200")  # kept alive, idle
                wait_until_read(cut)  # the body's head read, the route waiting for the rest
                proc.send_signal(sig)
                _stopped(proc, log)


def test_a_client_that_does_not_read_its_answers_does_not_hold_the_stop(tmp_path: Path) -> None:
    """Answers asked for and never read (a hundred pipelined, the client's buffer small): the
    server's writing waits on the client, and a stop waited on it for ever."""
    with _serving(tmp_path) as (proc, port, log):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as deaf:
            deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            deaf.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 100)
            wait_until_held(deaf)  # answers written until the client's buffer and the server's fill
            proc.send_signal(signal.SIGTERM)
            _stopped(proc, log)


def test_a_body_still_arriving_at_the_stop_is_read_and_answered(tmp_path: Path) -> None:
    with _serving(tmp_path) as (proc, port, log):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(
                f"{HEAD}Content-Type: application/json\r\nContent-Length: 12\r\n\r\n".encode()
            )

            def stop(i: int) -> None:
                if i == 2:
                    proc.send_signal(signal.SIGTERM)

            # a byte each quarter of the silence, 3 silences in all, told to stop after 2
            answer = drip(slow, 12, STOP_SILENCE / 4, stop)
            slow.settimeout(10)
            while data := slow.recv(65536):  # to the end: the server closes it after
                answer += data
            assert answer.startswith(b"HTTP/1.1 4"), answer  # read whole and answered
        _stopped(proc, log)
