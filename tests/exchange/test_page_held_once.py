"""A partner's page, read whole within its bounds (``exchange.answers.Bounded``), is held once:
its parts were gathered in a ``bytearray`` and then copied into ``bytes`` for the answer, so a
page of 30.7 MiB held 62.4 MiB at the peak (a page at the 64 MiB bound, 128 MiB); now 32.3.
Over real HTTP on loopback, plain and gzip; tracemalloc's peak over the request, the server's
thread included (its answer made before the count starts). What the reading refused it still
refuses: too many JSON values, and JSON that does not parse."""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from exchange.answers import Bounded, json_object
from exchange.bounds import page_bound
from exchange.errors import SyncRejected
from tests.servers import free_port

PARTNER = "310000"
ENTRIES = 8_000
ENTRY = "条" * 1_000 + "e" * 1_000  # an entry of 4 KB in UTF-8: a page of 31 MiB
HELD = 1.3  # the most a page read may hold at its peak, in times its size


def _page(entries: int = ENTRIES) -> bytes:
    return json.dumps(
        {"entries": [{"seq": i, "entry": ENTRY} for i in range(entries)]}, ensure_ascii=False
    ).encode()


@contextlib.contextmanager
def _answering(body: bytes, coding: str = "") -> Iterator[str]:
    """A server on loopback that answers every GET with ``body`` in ``coding``; its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if coding:
                self.send_header("Content-Encoding", coding)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/exchange/v1/entries"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("coding", ["", "gzip"])
def test_a_page_is_held_once(coding: str) -> None:
    page = _page()
    sent = gzip.compress(page, 1) if coding else page
    http = Bounded(PARTNER, transport=None, timeout=30)
    try:
        with _answering(sent, coding) as url:
            tracemalloc.start()
            try:
                resp = http.request("GET", url, {}, bound=page_bound(ENTRIES))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    finally:
        http.close()
    assert resp.content == page
    assert peak < HELD * len(page), f"{peak / 2**20:.1f} MiB for a page of {len(page) / 2**20:.1f}"
    doc = json_object(PARTNER, resp)
    assert len(doc["entries"]) == ENTRIES and doc["entries"][-1]["entry"] == ENTRY


def test_a_page_of_too_many_values_is_still_refused_unparsed() -> None:
    """One entry more than the page may hold, by the values it is counted in."""
    http = Bounded(PARTNER, transport=None, timeout=30)
    try:
        page = json.dumps({"entries": [{}] * (16 * 10 + 64)}).encode()  # page_bound(10)
        with _answering(page) as url, pytest.raises(SyncRejected, match="JSON values"):
            http.request("GET", url, {}, bound=page_bound(10))
    finally:
        http.close()


@pytest.mark.parametrize("body", [b'{"entries": [', b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000])
def test_a_page_that_does_not_parse_is_still_refused(body: bytes) -> None:
    http = Bounded(PARTNER, transport=None, timeout=30)
    try:
        with _answering(body) as url:
            resp = http.request("GET", url, {}, bound=None)
    finally:
        http.close()
    with pytest.raises(SyncRejected, match=f"partner {PARTNER}: malformed JSON"):
        json_object(PARTNER, resp)
