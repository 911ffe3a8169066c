"""A real uvicorn server on loopback, in a thread, for tests that need HTTP over a socket."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Ports for the servers tests start. A port the kernel picks (``bind(0)``) comes from its
# ephemeral range, where every other test's ``bind(0)`` and outgoing connection also take
# theirs, and a ``shuangsui serve`` binds it seconds after it is chosen (import, migrations):
# in that gap another worker may be handed the same port and start its own server there, and
# the first test then talks to the wrong server. Instead each test process takes its ports, in
# turn, from a block of its own below the ephemeral range, which nothing else hands out. It
# claims the block by binding the block's first port and holding that socket until it ends:
# taken by the worker id alone, a block was shared by two runs with the same id side by side
# (or none, which counts as gw0), and both handed out the same ports in the same order.
PORT_BLOCK = 1000
_taken = itertools.count()
_claims: list[socket.socket] = []  # the socket holding this process's block, closed at exit


@cache
def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _blocks() -> list[int]:
    """The first ports of the blocks between 10,000 and the ephemeral range, this worker's
    first (so xdist workers start from different ones), then the next ones round."""
    count = (_ephemeral_start() - 10_000) // PORT_BLOCK
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    order = [(index + k) % count for k in range(count)]
    return [_ephemeral_start() - PORT_BLOCK * (i + 1) for i in order]


@cache
def _block() -> int | None:
    """The first port of the block this process claimed, or None where every block is held."""
    for first in _blocks():
        claim = socket.socket()
        try:
            claim.bind(("127.0.0.1", first))
        except OSError:  # another process's claim (or a server of a test that never claimed)
            claim.close()
            continue
        _claims.append(claim)  # held until this process ends
        atexit.register(claim.close)  # not left to the interpreter's last collection (a warning)
        return first
    return None


def _bound(port: int) -> int | None:
    """``port`` if nothing else is bound to it (0: the kernel's choice), else None."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:  # in use (a server still stopping, TIME_WAIT, the block's claim)
            return None
        return int(s.getsockname()[1])


def free_port() -> int:
    """A loopback port no other socket is bound to, from this process's block (see above)."""
    first = _block()
    if first is not None:
        for _ in range(PORT_BLOCK):
            if (port := _bound(first + next(_taken) % PORT_BLOCK)) is not None:
                return port
    port = _bound(0)  # no block below the ephemeral range, or none free: the kernel's choice
    assert port is not None
    return port


def wait_for_serve(
    proc: subprocess.Popen,  # type: ignore[type-arg]
    url: str,
    status: int,
    *,
    log: Path,
    name: str = "shuangsui serve",
    seconds: float = 120,
) -> None:
    """Wait until ``url`` answers ``status`` from a ``shuangsui serve`` just started, whose
    output goes to ``log``. Fails at once if the process ended, else after ``seconds``: on a
    loaded 2-core machine a server takes from a few seconds to well over thirty to import and
    migrate before it listens."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=5).status_code == status and _says_it_listens(log, url):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    said = log.read_text(errors="replace")
    raise RuntimeError(f"{name} did not start (exit status {proc.poll()}):\n{said}")


def _says_it_listens(log: Path, url: str) -> bool:
    """Whether the server's own output says it listens where ``url`` points (uvicorn's start
    line). An answer alone may come from another server on that port while this one, refused
    at its bind, is still on its way out: the test would then talk to the other server."""
    where = urlsplit(url)
    return f"Uvicorn running on {where.scheme}://{where.netloc} " in log.read_text(errors="replace")


@contextmanager
def serve_process(
    env: dict[str, str],
    port: int,
    log: Path,
    *,
    argv: list[str] | None = None,
    ready: tuple[str, int] = ("/health", 200),
    name: str = "shuangsui serve",
) -> Iterator[subprocess.Popen]:  # type: ignore[type-arg]
    """A real ``shuangsui serve --port PORT`` with ``env``, its output in ``log``, once
    ``ready`` (a path and the status it answers) says it listens; stopped at the end.
    ``argv``: another command line starting it (a Python one that sets limits first);
    ``name``: what a failure to start calls it (which bureau's server, say)."""
    command = argv or [sys.executable, "-m", "shuangsui", "serve", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}{ready[0]}"
        wait_for_serve(proc, url, ready[1], name=name, log=log)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def serve_app(
    app: Any,
    *,
    port: int | None = None,
    log_level: str = "warning",
    lifespan: str = "off",
    **config: Any,
) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 (a free port unless ``port``); its base URL.
    Extra keyword arguments go to ``uvicorn.Config`` (``proxy_headers=True``, say)."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level=log_level, lifespan=lifespan, **config
        )  # fmt: skip
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert server.started, f"uvicorn did not start on port {port}"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def answer_json(handler: BaseHTTPRequestHandler, body: object) -> None:
    """A test server's 200 answer of ``body`` as JSON (a drand beacon's, say)."""
    data = json.dumps(body).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
