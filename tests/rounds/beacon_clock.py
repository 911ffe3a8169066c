"""A drand server on loopback that answers by the tests' own clock, and that clock set as the
commit's, the draw's and the site's: a beacon round is served once the clock has passed its
time, and the server keeps the rounds it was asked for."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rounds import disclosure, service
from rounds import entropy as round_entropy
from shuangsui.config import get_settings
from tests.servers import answer_json

CHAIN = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
PERIOD = 3
GENESIS = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
SIGNATURE = hashlib.sha512(b"sig").hexdigest() + hashlib.sha256(b"sig").hexdigest()


def round_time(round_no: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(GENESIS + (round_no - 1) * PERIOD, dt.UTC)


@dataclass
class Drand:
    """The server's address, the clock every part reads, and the rounds asked for."""

    url: str
    clock: dt.datetime
    asked: list[int] = field(default_factory=list)


def _handler(drand: list[Drand]) -> type[BaseHTTPRequestHandler]:
    class _Drand(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if parts == [CHAIN, "info"]:
                answer_json(self, {"genesis_time": GENESIS, "period": PERIOD, "hash": CHAIN})
            elif parts[:2] == [CHAIN, "public"] and parts[2].isdigit():
                round_no = int(parts[2])
                drand[0].asked.append(round_no)
                if round_time(round_no) > drand[0].clock:
                    self.send_error(425)  # drand's "too early"
                    return
                answer_json(self, {"round": round_no, "signature": SIGNATURE,
                                   "randomness": hashlib.sha256(bytes.fromhex(SIGNATURE))
                                   .hexdigest()})  # fmt: skip
            else:
                self.send_error(404)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return _Drand


@pytest.fixture
def drand(monkeypatch: pytest.MonkeyPatch) -> Iterator[Drand]:
    """The round's only entropy source, and the clock now (the registry is imported now: a
    clock far from it would hold the commit as stale)."""
    holder: list[Drand] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    holder.append(Drand(f"http://127.0.0.1:{server.server_address[1]}", now))
    monkeypatch.setattr(service, "_now", lambda: holder[0].clock)
    monkeypatch.setattr(round_entropy, "now", lambda: holder[0].clock, raising=False)
    monkeypatch.setattr(disclosure, "now", lambda: holder[0].clock)
    monkeypatch.setenv("SHUANGSUI_ENTROPY_SOURCES", "beacon")
    monkeypatch.setenv("SHUANGSUI_BEACON_URL", holder[0].url)
    monkeypatch.setenv("SHUANGSUI_BEACON_CHAIN_HASH", CHAIN)
    get_settings.cache_clear()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        get_settings.cache_clear()
