"""Asking Prefect how a ceremony's deployment run is (``api.runs.run_state``) took 1.5 s to
fail on a closed port: Prefect's client retries a connection three times, 0.5 s apart, and a
round's page, a ceremony refused and ``round draw`` each waited that long whenever the
configured Prefect server was down. Now the ask goes over a transport without retries: a
refused connection answers at once, and a hold still ends nothing on it."""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from typing import Any

import pytest

from api import runs


def test_a_refused_connection_answers_at_once() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{free.getsockname()[1]}/api"
    with temporary_settings(updates={PREFECT_API_URL: closed}):
        assert runs.run_state(str(uuid.uuid4())) is None  # the client imported once
        took = []
        for _ in range(3):
            started = time.monotonic()
            assert runs.run_state(str(uuid.uuid4())) is None
            took.append(time.monotonic() - started)
    assert max(took) < 0.75, took  # three retries took 1.5 s each


def test_the_ssl_context_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ask built an SSL context, loading certifi's certificates afresh (milliseconds of
    CPU, at every reload of a held round's page); now it is built once and kept."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    built = []
    real = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(kwargs.get("cafile"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{free.getsockname()[1]}/api"
    with temporary_settings(updates={PREFECT_API_URL: closed}):
        for _ in range(4):
            assert runs.run_state(str(uuid.uuid4())) is None
    assert len(built) <= 1, built
