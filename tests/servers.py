"""A real uvicorn server on loopback, in a thread, for tests that need HTTP over a socket."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
