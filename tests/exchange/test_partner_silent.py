"""A partner that takes the connection and then says nothing (its server hung, a proxy holding
the request, a tarpit): the sync failed saying ``partner 310000 unreachable:
ReadTimeout('timed out')``, which sends its operators to the network, the address and the
firewall, where nothing is wrong. Now the refusal says the partner was reached and went
silent, for how long, and which request: nothing applied, the cursor unmoved, as before.
Over real sockets on loopback; SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from exchange.directory import load_directory
from exchange.sync import sync_partner
from tests.exchange.bureaus import make_bureau, write_directory

# what it sends before it goes silent: nothing, or the beginning of an answer
BEGINNINGS = [
    b"",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 900\r\n\r\nshuangsui",
]


@pytest.fixture
def silent(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port that takes each connection, reads the request, answers ``request.param`` (a
    beginning, or nothing) and then nothing more until the test ends."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    done = threading.Event()

    def take() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.sendall(request.param)
            held.append(conn)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("silent", BEGINNINGS, indirect=True, ids=["silent", "half-answer"])
def test_a_partner_reached_and_silent_is_said_so_not_unreachable(
    engine: sa.Engine, tmp_path: Path, silent: int
) -> None:
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = f"http://127.0.0.1:{silent}"
    write_directory(tmp_path / "home" / "partners.toml", [sh])
    out = sync_partner(engine, load_directory()["310000"], timeout=1)
    assert (out.status, out.applied, out.after) == ("failed", 0, 0), out
    assert out.error == (
        f"partner 310000: GET http://127.0.0.1:{silent}/exchange/v1/checkpoint: connected, "
        "but nothing of its answer came for 1 s"
    ), out.error
