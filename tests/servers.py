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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


# ------------------------------------------------------------------ waiting on a connection
# A test that must act once the server has done something on a connection (read a body's
# head, blocked writing to a client that does not read) waits for that, as the kernel shows
# it, not for a fixed time: a sleep tests less, or nothing, on a loaded machine. The kernel's
# queues of a loopback connection's two ends are read from /proc/net/tcp (this process's
# network namespace holds both ends).


@dataclass(frozen=True)
class Queues:
    """Bytes queued at each end of a TCP connection, as ``ss`` shows them (Send-Q, Recv-Q)."""

    ours_unsent: int  # written by us, not yet taken by the server's end
    ours_unread: int  # arrived from the server, not yet read by us
    theirs_unsent: int  # written by the server, not yet taken by our end
    theirs_unread: int  # arrived from us, not yet read by the server's program


def _tcp_table() -> dict[tuple[str, str], tuple[int, int]]:
    """(local, remote) -> (send queue, receive queue) of every IPv4 TCP socket, addresses as
    /proc/net/tcp writes them (``0100007F:1F90``)."""
    table = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        tx, rx = fields[4].split(":")
        table[fields[1], fields[2]] = (int(tx, 16), int(rx, 16))
    return table


def _proc_address(address: tuple[str, int]) -> str:
    host = socket.inet_aton(address[0])[::-1].hex().upper()  # /proc writes it little-endian
    return f"{host}:{address[1]:04X}"


def queues(sock: socket.socket) -> Queues:
    """The queues of ``sock``'s connection (IPv4 on this machine) at both its ends."""
    ours, theirs = _proc_address(sock.getsockname()), _proc_address(sock.getpeername())
    table = _tcp_table()
    if (ours, theirs) not in table or (theirs, ours) not in table:
        raise AssertionError(f"no connection {sock.getsockname()} <-> {sock.getpeername()}")
    (ours_unsent, ours_unread), (theirs_unsent, theirs_unread) = (
        table[ours, theirs], table[theirs, ours]
    )  # fmt: skip
    return Queues(ours_unsent, ours_unread, theirs_unsent, theirs_unread)


HELD_FOR = 0.3  # seconds a send queue that no longer grows has stopped (its buffer full)


def wait_until(what: str, done: Callable[[], object], seconds: float = 30) -> None:
    """Wait until ``done()`` is true; fail saying ``what`` was awaited if it is not so within
    ``seconds`` (bounds for a loaded 2-core machine, well past what a quiet one takes)."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}: not so")
        time.sleep(0.02)


def wait_until_read(sock: socket.socket, seconds: float = 30) -> None:
    """Wait until the server has read everything sent on ``sock`` (none of it queued at either
    end): its handler has had the bytes and goes on from there."""

    def read() -> bool:
        q = queues(sock)
        return q.ours_unsent == 0 and q.theirs_unread == 0

    wait_until(f"the server to read what was sent on {sock.getsockname()}", read, seconds)


def wait_until_held(sock: socket.socket, seconds: float = 30) -> None:
    """Wait until the server's writing to ``sock`` waits on us: what it wrote fills our
    receive buffer, and its send queue holds more and has stopped growing (its send buffer
    full, so the next write waits in the server's program) for :data:`HELD_FOR` seconds."""
    seen: list[tuple[int, float]] = []  # (the server's send queue, since when)

    def held() -> bool:
        q, now = queues(sock), time.monotonic()
        if not seen or seen[-1][0] != q.theirs_unsent:
            seen.append((q.theirs_unsent, now))
        unsent, since = seen[-1]
        return q.ours_unread > 0 and unsent > 0 and now - since >= HELD_FOR

    wait_until(f"the server's answers on {sock.getsockname()} to wait on the client", held, seconds)
