"""A real API server on loopback for findings tests, and many clients released at once."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from tests.servers import serve_app


def serve(app: FastAPI) -> AbstractContextManager[str]:
    """uvicorn serving ``app`` in a thread on 127.0.0.1; its base URL."""
    return serve_app(app)


@dataclass
class Call:
    method: str
    url: str
    token: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)


def race(base_url: str, calls: Sequence[Call]) -> list[httpx.Response]:
    """Send every call from its own client and connection, all released by one barrier."""
    barrier = threading.Barrier(len(calls))
    responses: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(i: int, call: Call) -> None:
        try:
            with httpx.Client(base_url=base_url, timeout=60) as http:
                http.get("/health")  # the connection is open before the start
                barrier.wait(timeout=30)
                responses[i] = http.request(
                    call.method,
                    call.url,
                    json=call.json,
                    params=call.params,
                    headers={"Authorization": f"Bearer {call.token}"},
                )
        except BaseException as exc:  # reported by the test, not lost in the thread
            responses[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    out = []
    for r in responses:
        if not isinstance(r, httpx.Response):
            raise AssertionError(f"a client failed: {r!r}")
        out.append(r)
    return out
