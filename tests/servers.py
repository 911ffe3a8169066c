"""A real uvicorn server on loopback, in a thread, for tests that need HTTP over a socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
