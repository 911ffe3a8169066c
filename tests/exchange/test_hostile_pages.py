"""A partner with a valid signed log whose answers misbehave, over real HTTP on loopback:
Shanghai's real feed (``served``) behind a proxy that rewrites what it answers, synced by
Fujian (the configured bureau, on SQLite and PostgreSQL).

- A ``rel="next"`` link to another address: it was followed with a signed request (to an
  internal address, say), and that address's answer kept as the partner's fault.
- A page of small JSON values (``{}``: 3 bytes, a 64-byte dict once parsed): 60 MB of them
  took a sync to 1.7 GB.
- An answer larger than what it can legitimately be (a checkpoint, a page).
- A gzip bomb: a few kilobytes that inflate to 64 MiB (httpx inflated each read at once, so a
  checkpoint of that kind was held inflated before its 1 MiB bound refused it); an answer in
  a coding not asked for (``br``).

Each time: nothing applied, the cursor unmoved, the fault names the partner and what was
refused, no request left for anywhere but the partner's own feed; the next sync resumes."""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from exchange import bounds
from exchange.directory import load_directory
from exchange.keys import load_or_create
from exchange.models import PartnerEntry, PartnerState
from exchange.sync import sync_partner
from tests.exchange.bureaus import Bureau, make_bureau, publish, served, write_directory
from tests.servers import free_port

CODES = [f"91310100MA{i:07d}X" for i in range(6)]
FEED = "/exchange/v1/"


class Bystander:
    """A server on another port (an internal admin page, a third party): counts every
    connection made to it, and answers each as the probe's internal page did."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                body = b'{"secret": "internal admin page"}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))  # fmt: skip

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


class HostileProxy:
    """Shanghai's feed at ``url`` (``prefix`` included, stripped before forwarding, as a TLS
    proxy with a path does); ``mode`` rewrites its answers: '' | link | inflated |
    oversized-checkpoint | oversized-page[-streamed] | a coding of :data:`CODINGS` (every
    answer so compressed) | a bomb of :data:`BOMBS` | a miscoding of :data:`MISCODED`."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix, self.mode, self.link, self.upstream = prefix, "", "", ""
        self.seen: list[str] = []  # the path of every request received
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{prefix}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        self.seen.append(h.path)
        if not h.path.startswith(self.prefix + FEED):
            return _send(h, 404, {"Content-Type": "application/problem+json"},
                         b'{"detail": "not the feed"}')  # fmt: skip
        path = h.path.removeprefix(self.prefix)
        headers = {k: v for k, v in h.headers.items() if k.lower() != "host"}
        resp = httpx.get(self.upstream + path, headers=headers, timeout=10)
        drop = ("content-length", "transfer-encoding", "date", "server")
        out = {k: v for k, v in resp.headers.items() if k.lower() not in drop}
        body, announced = resp.content, True
        page = path.startswith(FEED + "entries") and resp.status_code == 200
        if page and self.mode == "link":
            out["Link"] = f'<{self.link}>; rel="next"'
        elif page and self.mode == "inflated":  # 200,000 values; 10,000 entries are 50,000
            doc = json.loads(body)
            body = (b'{"start":%d,"end":%d,"entries":[' % (doc["start"], doc["end"])
                    + b"{}," * 200_000 + b"{}]}")  # fmt: skip
        elif page and self.mode.startswith("oversized-page"):
            body += b" " * 100_000  # still the same JSON
            announced = not self.mode.endswith("streamed")
        elif path.startswith(FEED + "checkpoint") and self.mode == "oversized-checkpoint":
            body += b"x" * 2**20
        status = resp.status_code
        if self.mode in CODINGS:
            out["Content-Encoding"] = self.mode.split("-")[0]
            body = CODINGS[self.mode](body)
        elif path.startswith(FEED + "checkpoint") and self.mode in BOMBS:
            out["Content-Encoding"], status, body = BOMBS[self.mode]()
        elif path.startswith(FEED + "checkpoint") and self.mode in MISCODED:
            out["Content-Encoding"] = self.mode.split("-")[0]
            body = MISCODED[self.mode](body)
        _send(h, status, out, body, announced)


def _compressed(body: bytes, wbits: int) -> bytes:
    """``body`` in gzip (``wbits`` 31), zlib (15) or raw deflate (-15) format."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return compressor.compress(body) + compressor.flush()


CODINGS = {  # a feed answering in Content-Encoding gzip or deflate, as a proxy may
    # two gzip members (RFC 1952 2.2), as a server that compresses as it sends may write
    "gzip-members": lambda body: b"".join(
        _compressed(half, 31) for half in (body[: len(body) // 2], body[len(body) // 2 :])
    ),
    "deflate": lambda body: _compressed(body, 15),  # RFC 9110 8.4.1.2: the zlib format
    "deflate-raw": lambda body: _compressed(body, -15),  # as some servers send it
}


@functools.cache
def _bomb(wbits: int) -> bytes:
    """64 MiB of one letter, compressed: 65 KB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [compressor.compress(b"x" * 2**20) for _ in range(64)]
    return b"".join(parts) + compressor.flush()


BOMBS = {  # the checkpoint answered with a bomb: (Content-Encoding, status, body)
    "gzip-bomb": lambda: ("gzip", 200, _bomb(31)),
    "deflate-bomb": lambda: ("deflate", 200, _bomb(15)),
    "gzip-bomb-refusal": lambda: ("gzip", 500, _bomb(31)),  # a refusal: 64 KiB of it read
}

MISCODED = {  # the checkpoint not in the coding its Content-Encoding names
    "br": lambda body: body,  # not asked for
    "gzip-plain": lambda body: body,
    "gzip-cut": lambda body: _compressed(body, 31)[:-9],  # stopped before its end
    "deflate-more": lambda body: _compressed(body, 15) + b"more",  # bytes after its end
}


def _send(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes,
          announced: bool = True) -> None:  # fmt: skip
    """An answer; without ``Content-Length`` if not ``announced`` (it ends as the connection
    closes: HTTP/1.0)."""
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    if announced:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@contextlib.contextmanager
def hostile_feed(
    tmp_path: Path, prefix: str = ""
) -> Iterator[tuple[Bureau, HostileProxy, Bystander]]:
    """Shanghai (3 entries published) behind the proxy, listed at the proxy's URL in Fujian's
    directory; and a bystander."""
    sh = make_bureau(tmp_path, "310000")
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url = load_or_create(), "http://fj.test"
    write_directory(sh.home / "partners.toml", [fj])
    for i in range(3):
        publish(sh, CODES[i], n=i)
    proxy, bystander = HostileProxy(prefix), Bystander()
    try:
        with served(sh, public_url=proxy.url) as upstream:
            proxy.upstream, sh.base_url = upstream, proxy.url
            write_directory(tmp_path / "home" / "partners.toml", [sh])
            yield sh, proxy, bystander
    finally:
        proxy.close()
        bystander.close()
        sh.engine.dispose()


@pytest.fixture
def feed(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[HostileProxy, Bystander]]:
    """The hostile feed (pages of 2), synced once while it behaves: 3 entries held, 3 more
    published."""
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PAGE_SIZE", "2")
    with hostile_feed(tmp_path) as (sh, proxy, bystander):
        out = sync_partner(engine, load_directory()["310000"], timeout=10)
        assert (out.status, out.after) == ("ok", 3), out
        for i in range(3, 6):
            publish(sh, CODES[i], n=i)
        yield proxy, bystander


def _held(engine: sa.Engine) -> tuple[int, int, str, str]:
    with Session(engine) as s:
        n = s.exec(select(func.count()).select_from(PartnerEntry)).one()
        st = s.get(PartnerState, "310000")
        assert st is not None
        return n, st.size, st.status, st.last_error or ""


def _refused(engine: sa.Engine, proxy: HostileProxy) -> str:
    """Sync once more: failed, nothing applied, the cursor at 3; then, the partner behaving
    again, the sync resumes from the cursor. Returns the fault recorded."""
    out = sync_partner(engine, load_directory()["310000"], timeout=10)
    n, size, status, error = _held(engine)
    assert (out.status, out.applied, out.after) == ("failed", 0, 3), out
    assert (n, size, status) == (3, 3, "failed")
    assert error == out.error
    proxy.mode = ""
    out = sync_partner(engine, load_directory()["310000"], timeout=10)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 3, 6, 3), out
    return error


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1:{bystander}/internal/next?start=1",  # the probe's link
        "//127.0.0.1:{bystander}/exchange/v1/entries?start=5&end=6",  # the path, elsewhere
        "/internal/admin?start=5",  # the partner's host, another path
    ],
)
def test_a_next_link_elsewhere_is_refused_and_never_followed(
    engine: sa.Engine, feed: tuple[HostileProxy, Bystander], link: str
) -> None:
    proxy, bystander = feed
    proxy.mode, proxy.link = "link", link.format(bystander=bystander.port)
    proxy.seen.clear()
    error = _refused(engine, proxy)
    assert bystander.connections == 0
    assert all(path.startswith(FEED) for path in proxy.seen), proxy.seen
    assert error == (
        f'partner 310000: refused its rel="next" link <{proxy.link}>: not the entries of its '
        f"base_url {proxy.url}; not followed"
    )


def test_a_page_inflated_with_small_values_is_refused_before_it_is_parsed(
    engine: sa.Engine, feed: tuple[HostileProxy, Bystander]
) -> None:
    proxy, _ = feed
    proxy.mode = "inflated"
    assert _refused(engine, proxy) == (
        f"partner 310000: GET {proxy.url}/exchange/v1/entries?start=3&end=6&limit=10000: the "
        "answer holds more than 160064 JSON values, the bound of a page of 10000 entries; "
        "not parsed"
    )


TOO_LARGE = {  # what is refused, after "partner 310000: GET <feed>/exchange/v1/"
    "oversized-checkpoint": "checkpoint: the answer is larger than 1048576 bytes, the bound of "
    "a checkpoint; not read",
    "oversized-page": "entries?start=3&end=6&limit=10000: the answer is larger than 65536 "
    "bytes, the bound of a page of 10000 entries; not read",
    "oversized-page-streamed": "entries?start=3&end=6&limit=10000: the answer is larger than "
    "65536 bytes, the bound of a page of 10000 entries; not read further",
}


@pytest.mark.parametrize("mode", list(TOO_LARGE))
def test_an_answer_larger_than_it_can_be_is_refused(
    engine: sa.Engine,
    feed: tuple[HostileProxy, Bystander],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """A page's bound is lowered from 64 MiB to 64 KiB: the test stays cheap."""
    proxy, _ = feed
    monkeypatch.setattr(bounds, "PAGE_BYTES", 2**16)
    proxy.mode = mode
    assert (
        _refused(engine, proxy) == f"partner 310000: GET {proxy.url}/exchange/v1/{TOO_LARGE[mode]}"
    )


@pytest.mark.parametrize("mode", list(CODINGS))
def test_a_feed_compressed_as_a_proxy_may_is_read_whole(
    engine: sa.Engine, feed: tuple[HostileProxy, Bystander], mode: str
) -> None:
    """Every answer gzip (in two members: httpx read the first only) or deflate."""
    proxy, _ = feed
    proxy.mode = mode
    out = sync_partner(engine, load_directory()["310000"], timeout=10)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 3, 6, 3), out


BOMBED = {  # what is refused, after "partner 310000: GET <feed>/exchange/v1/checkpoint", and
    # the bound of that answer
    "gzip-bomb": (
        ": the answer is larger than 1048576 bytes, the bound of a checkpoint; not read further",
        2**20,
    ),
    "deflate-bomb": (
        ": the answer is larger than 1048576 bytes, the bound of a checkpoint; not read further",
        2**20,
    ),
    "gzip-bomb-refusal": (" answered HTTP 500: " + "x" * 300, 2**16),
}
SYNC_MEMORY = 4 * 2**20  # what a sync of this feed holds besides its answer (under 1 MiB)


@pytest.mark.parametrize("mode", list(BOMBED))
def test_a_compression_bomb_is_refused_holding_no_more_than_its_bound(
    engine: sa.Engine, feed: tuple[HostileProxy, Bystander], mode: str
) -> None:
    """64 MiB in 65 KB: the answer is inflated a part at a time and refused as it passes its
    bound, holding that bound and a part: 2.0 MiB at the peak (0.8 for a refusal), where
    httpx, inflating a whole read at once, held 141.6 MiB (tracemalloc's peak over the refused
    sync and the one that resumes, the feed's threads included)."""
    proxy, _ = feed
    proxy.mode = mode
    BOMBS[mode]()  # made before the count starts
    tracemalloc.start()
    try:
        error = _refused(engine, proxy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    refused, bound = BOMBED[mode]
    assert error == f"partner 310000: GET {proxy.url}/exchange/v1/checkpoint{refused}"
    assert peak < bound + SYNC_MEMORY, f"{peak / 2**20:.1f} MiB held at the peak"


MISCODED_REFUSED = {  # after "partner 310000: GET <feed>/exchange/v1/checkpoint: "
    "br": "the answer is in Content-Encoding br, not one asked for (gzip, deflate); not read",
    "gzip-plain": "the answer's gzip coding is malformed (Error -3 while decompressing data: "
    "incorrect header check); not read further",
    "gzip-cut": "the answer ends inside its gzip coding; not read further",
    "deflate-more": "the answer has bytes after the end of its deflate coding; not read further",
}


@pytest.mark.parametrize("mode", list(MISCODED))
def test_an_answer_not_in_the_coding_it_names_is_refused(
    engine: sa.Engine, feed: tuple[HostileProxy, Bystander], mode: str
) -> None:
    """Before: ``br`` (httpx without the brotli package) was read as no coding at all, a
    cut one as far as it went, one with bytes after its end without them (each then refused
    or not as a checkpoint), and a malformed one was a partner "unreachable"."""
    proxy, _ = feed
    proxy.mode = mode
    assert _refused(engine, proxy) == (
        f"partner 310000: GET {proxy.url}/exchange/v1/checkpoint: {MISCODED_REFUSED[mode]}"
    )


def test_a_partner_behind_a_proxy_with_a_path_is_paged_under_that_path(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its server writes next links at the root (``/exchange/v1/entries?…``: it does not
    know the proxy's path); the client asks for each page under the base_url itself."""
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PAGE_SIZE", "2")
    with hostile_feed(tmp_path, prefix="/sh") as (_sh, proxy, bystander):
        out = sync_partner(engine, load_directory()["310000"], timeout=10)
        assert (out.status, out.after, out.applied) == ("ok", 3, 3), out
        pages = [p for p in proxy.seen if "/entries" in p]
        assert pages == ["/sh/exchange/v1/entries?start=0&end=3&limit=10000",
                         "/sh/exchange/v1/entries?start=2&end=3&limit=10000"]  # fmt: skip
        assert bystander.connections == 0


def _parsed_values(doc: object) -> int:
    if isinstance(doc, dict):
        return 1 + sum(1 + _parsed_values(v) for v in doc.values())
    if isinstance(doc, list):
        return 1 + sum(map(_parsed_values, doc))
    return 1


@pytest.mark.parametrize(
    "text",
    [
        '{"start": 0, "end": 2, "entries": [{"seq": 0, "entry": "{\\"a\\":[1,{}]}"}]}',
        '[true, false, null, -1.5e3, "", "\\\\", "\\"", "a,b:[c]{d}", [], {}, [[{}]]]',
        '\n{ "k" :\t"\u798f\u5efa" , "x" : [ 1 , 2 ] }\r\n',
    ],
)
def test_the_values_of_an_answer_are_counted_as_parsing_would_make_them(text: str) -> None:
    body = text.encode()
    assert bounds.json_values(body, 10**6) == _parsed_values(json.loads(body))
    assert bounds.json_values(body, 3) == 4  # counted no further than the bound + 1


def test_counting_values_is_linear_whatever_the_bytes() -> None:
    """An unterminated string of escapes, a run of closers: each value or run is one match."""
    for body in (b'"' + b'\\"' * 2**20, b"]" * 2**21, b'["' * 2**20):
        assert bounds.json_values(body, 10) <= 11
