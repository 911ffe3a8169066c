"""A real uvicorn server on loopback, in a thread, for tests that need HTTP over a socket."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

# Ports for the servers tests start. A port the kernel picks (``bind(0)``) comes from its
# ephemeral range, where every other test's ``bind(0)`` and outgoing connection also take
# theirs, and a ``shuangsui serve`` binds it seconds after it is chosen (import, migrations):
# in that gap another worker may be handed the same port and start its own server there, and
# the first test then talks to the wrong server. Instead each xdist worker takes its ports,
# in turn, from its own block below the ephemeral range, which nothing else hands out.
PORT_BLOCK = 1000
_taken = itertools.count()


@cache
def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _worker_block() -> int | None:
    """The first port of this worker's block, or None where the blocks do not fit."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    first = _ephemeral_start() - PORT_BLOCK * (index + 1)
    return first if first >= 10_000 else None


def _bound(port: int) -> int | None:
    """``port`` if nothing else is bound to it (0: the kernel's choice), else None."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:  # in use (a server still stopping, TIME_WAIT)
            return None
        return int(s.getsockname()[1])


def free_port() -> int:
    """A loopback port no other socket is bound to, from this worker's block (see above)."""
    first = _worker_block()
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
    name: str = "shuangsui serve",
    log: Path | None = None,
    seconds: float = 120,
) -> None:
    """Wait until ``url`` answers ``status`` from a ``shuangsui serve`` just started. Fails at
    once if the process ended, else after ``seconds``: on a loaded 2-core machine a server
    takes from a few seconds to well over thirty to import and migrate before it listens."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=5).status_code == status:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    said = f":\n{log.read_text()}" if log is not None else ""
    raise RuntimeError(f"{name} did not start (exit status {proc.poll()}){said}")


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
