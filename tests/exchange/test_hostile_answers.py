"""The rest of a hostile or broken partner's answers, over real HTTP on loopback: Shanghai's
real feed behind the proxy of ``test_hostile_pages`` (pages of 2), synced by Fujian (the
configured bureau, on SQLite and PostgreSQL), 3 entries held and 3 more published.

- A page longer than asked (the partner ignoring ``limit`` and ``end``): refused before any
  of it is taken.
- A page whose own ``start`` and ``end`` disagree with its entries: they are not read; the
  entries are taken by their ``seq`` and checked against the signed root.
- A redirect of the checkpoint or of a page to another host: not followed (no connection to
  it), refused naming the status.
- A checkpoint signed by another partner's key (Jiangsu's, listed in our directory for
  Jiangsu), for Shanghai's origin or for Jiangsu's own: refused, nothing applied.

- A page whose entry holds a lone surrogate (``"\\ud800"``, text no UTF-8 can write): the
  sync was recorded as our own fault (``error``, 本局系统故障, the flow's run failed as a fault
  that needs a person) with a ``UnicodeEncodeError`` traceback, at every sync; now a refusal
  of the partner's answer, naming it.
- A request to Fujian's own ``shuangsui serve`` at and a byte past each limit it sets: the
  head's 16 KiB, the exchange's POST body's 1 MiB (announced and chunked).

Each refusal: nothing applied, the cursor unmoved, the fault names the partner; the next sync,
the partner behaving again, resumes from the cursor. All but the surrogate held before this
file, which pins them."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from exchange.directory import load_directory
from exchange.notes import sign_note
from exchange.sync import sync_partner
from tests.exchange.bureaus import Bureau, Servers, make_bureau, publish, write_directory
from tests.exchange.test_hostile_pages import (
    CODES,
    FEED,
    Bystander,
    HostileProxy,
    _held,
    _refused,
    _send,
    hostile_feed,
)
from tests.servers import free_port


class Proxy(HostileProxy):
    """The hostile proxy with the modes of this file: longer | claims | redirect-checkpoint |
    redirect-page | key-of:<origin> (the checkpoint's text under ``origin``, signed by
    ``signer``'s key)."""

    signer: Bureau
    bystander: Bystander

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        mine = self.mode in ("longer", "claims", "surrogate") or self.mode.startswith(
            ("redirect", "key-of")
        )
        if not mine:
            return super().handle(h)
        self.seen.append(path)
        headers = {k: v for k, v in h.headers.items() if k.lower() != "host"}
        resp = httpx.get(self.upstream + path, headers=headers, timeout=10)
        out = {"Content-Type": resp.headers["content-type"]}
        body, page = resp.content, path.startswith(FEED + "entries") and resp.is_success
        checkpoint = path.startswith(FEED + "checkpoint") and resp.is_success
        elsewhere = f"http://127.0.0.1:{self.bystander.port}{path}"
        if (self.mode == "redirect-checkpoint" and checkpoint) or (
            self.mode == "redirect-page" and page
        ):
            return _send(h, 302, {"Location": elsewhere}, b"")
        if page and self.mode == "longer":  # one entry more than the range asked holds
            doc = json.loads(body)
            doc["entries"] += [{"seq": 6, "entry": doc["entries"][-1]["entry"]}] * 2
            body = json.dumps(doc).encode()
        elif page and self.mode == "surrogate":  # an entry no UTF-8 can write
            doc = json.loads(body)
            doc["entries"][0]["entry"] = "\ud800"
            body = json.dumps(doc).encode()
        elif page and self.mode == "claims":  # its own bounds, wrong
            doc = json.loads(body)
            doc["start"], doc["end"] = 0, 10**6
            body = json.dumps(doc).encode()
        elif checkpoint and self.mode.startswith("key-of:"):
            text = resp.text.split("\n\n", 1)[0] + "\n"
            origin = self.mode.removeprefix("key-of:")
            text = origin + text[text.index("\n") :]
            body = sign_note(text, self.signer.origin, self.signer.key.private).encode()
        _send(h, resp.status_code, out, body)


@pytest.fixture
def feed(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Proxy, Bystander]]:
    """The feed, synced once while it behaves (3 entries held, 3 more published); Jiangsu in
    Fujian's directory too, with its own key."""
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PAGE_SIZE", "2")
    monkeypatch.setattr("tests.exchange.test_hostile_pages.HostileProxy", Proxy)
    js = make_bureau(tmp_path, "320000")
    js.base_url = "http://127.0.0.1:9"
    try:
        with hostile_feed(tmp_path) as (sh, proxy, bystander):
            assert isinstance(proxy, Proxy)
            proxy.signer, proxy.bystander = js, bystander
            write_directory(tmp_path / "home" / "partners.toml", [sh, js])
            out = sync_partner(engine, load_directory()["310000"], timeout=10)
            assert (out.status, out.after) == ("ok", 3), out
            for i in range(3, 6):
                publish(sh, CODES[i], n=i)
            yield proxy, bystander
    finally:
        js.engine.dispose()


def test_a_page_longer_than_asked_is_refused(
    engine: sa.Engine, feed: tuple[Proxy, Bystander]
) -> None:
    proxy, _ = feed
    proxy.mode = "longer"
    error = _refused(engine, proxy)
    assert error == "partner 310000: a page of 4 entries from 3, more than the 3 asked for"


def test_a_page_whose_own_bounds_are_wrong_is_taken_by_its_entries(
    engine: sa.Engine, feed: tuple[Proxy, Bystander]
) -> None:
    proxy, _ = feed
    proxy.mode = "claims"
    out = sync_partner(engine, load_directory()["310000"], timeout=10)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 3, 6, 3), out
    assert _held(engine) == (6, 6, "ok", "")


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("redirect-checkpoint", "GET {url}checkpoint answered HTTP 302"),
        ("redirect-page", "GET {url}entries?start=3&end=6&limit=10000 answered HTTP 302"),
        ("key-of:shuangsui.310000", "checkpoint rejected: "),  # Jiangsu's key, our origin
        ("key-of:shuangsui.320000", "checkpoint rejected: "),  # Jiangsu's own checkpoint
    ],
)
def test_a_redirect_elsewhere_or_another_partner_s_key_is_refused(
    engine: sa.Engine, feed: tuple[Proxy, Bystander], mode: str, said: str
) -> None:
    """A redirect is not followed: no connection to the other host."""
    proxy, bystander = feed
    proxy.mode = mode
    error = _refused(engine, proxy)
    assert bystander.connections == 0
    assert error.startswith("partner 310000: " + said.format(url=proxy.url + FEED)), error


@pytest.fixture
def fujian(engine: sa.Engine, tmp_path: Path) -> Iterator[int]:
    """Fujian's own ``shuangsui serve`` (a real process); yields its port."""
    port = free_port()
    servers = Servers(tmp_path)
    env = os.environ | {"SHUANGSUI_EXCHANGE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    servers.start("350000", env, port)
    try:
        yield port
    finally:
        servers.stop_all()


def _exchange(port: int, head: bytes, body: bytes = b"") -> int:
    """The status of one request sent as these bytes (the body in one piece, or chunked when
    the head says so), on a connection of its own."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + body)
        answer = b""
        while b"\r\n" not in answer:
            got = conn.recv(65536)
            if not got:
                break
            answer += got
    return int(answer.split(b" ", 2)[1])


def _head(target: str, size: int, *more: str) -> bytes:
    """A request head of exactly ``size`` bytes, padded by a header ``X-Pad``."""
    lines = [f"{target} HTTP/1.1", "Host: 127.0.0.1", *more, "Connection: close"]
    bare = len(("\r\n".join(lines) + "\r\nX-Pad: \r\n\r\n").encode())
    return ("\r\n".join(lines) + f"\r\nX-Pad: {'x' * (size - bare)}\r\n\r\n").encode()


@pytest.mark.slow
def test_a_request_at_and_past_each_limit_of_the_feed(fujian: int) -> None:
    """The head at 16 KiB is read (and refused unsigned, 401); a byte more is 431. A body of
    1 MiB to the exchange's POST route is read (401); a byte more, announced or chunked, is
    413, before its signature is looked at."""
    most = 16 * 1024
    assert _exchange(fujian, _head("GET /exchange/v1/checkpoint", most)) == 401
    assert _exchange(fujian, _head("GET /exchange/v1/checkpoint", most + 1)) == 431
    post = "POST /exchange/v1/joint/j-1/statements"
    for size, status in ((2**20, 401), (2**20 + 1, 413)):
        body = b"x" * size
        head = _head(post, 1024, f"Content-Length: {size}", "Content-Type: application/json")
        assert _exchange(fujian, head, body) == status, size
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (size, body)
        head = _head(post, 1024, "Transfer-Encoding: chunked", "Content-Type: application/json")
        assert _exchange(fujian, head, chunked) == status, size


def test_an_entry_no_utf_8_can_write_is_refused(
    engine: sa.Engine, feed: tuple[Proxy, Bystander]
) -> None:
    proxy, _ = feed
    proxy.mode = "surrogate"
    error = _refused(engine, proxy)
    assert error == (
        f"partner 310000: GET {proxy.url}{FEED}entries?start=3&end=6&limit=10000: a string of "
        "the answer holds a lone surrogate (U+D800 to U+DFFF without its pair), which no UTF-8 "
        "text holds; not taken"
    ), error
