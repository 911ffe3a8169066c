"""A partner that stalls, floods or garbles its answers, served from a raw socket on loopback:
the feed client (``exchange.client``) and the joint-round client (``joint.client``) give up
with SyncRejected naming the partner, never hang for ever, hold an endless answer in memory,
or fail with a decoder's exception.

The hostile server drips a short answer a byte at a time, each byte well within the client's
read timeout, so only a bound on the whole answer cuts it off; without that bound the answer
completes after a few seconds and the test fails (it never hangs)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.client import PartnerClient
from exchange.directory import Partner
from exchange.errors import SyncRejected
from exchange.keys import BureauKey, load_or_create
from joint import client as joint_client

DRIP = 0.25  # seconds between two bytes of a dripped answer (the read timeout is 10 s)
BODY = b'{"statements": [], "entries": []}' + b" " * 12  # about 11 s at one byte per DRIP


def _head(status: str, media: str, length: int | None) -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return f"HTTP/1.1 {status}\r\nContent-Type: {media}\r\n{size}Connection: close\r\n\r\n".encode()


def _answer(mode: str) -> Iterator[bytes]:
    """What the partner sends back, in the pieces it sends them."""
    if mode == "drip-body":
        yield _head("200 OK", "application/json", len(BODY))
        yield from (bytes([b]) for b in BODY)
    elif mode == "drip-head":
        yield from (bytes([b]) for b in _head("200 OK", "application/json", len(BODY)) + BODY)
    elif mode == "flood":  # 32 MiB of one JSON string, in 64 KiB pieces
        yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        yield b'{"x": "'
        yield from (b"a" * 65536 for _ in range(512))
        yield b'"}'
    elif mode == "html":
        yield _head("200 OK", "text/html", 13) + b"<html></html>"
    elif mode == "deep":
        body = b"[" * 100_000 + b"]" * 100_000
        yield _head("200 OK", "application/json", len(body)) + body
    elif mode == "bad-problem":
        yield _head("500 Internal Server Error", "application/problem+json", 4) + b"oops"


def _serve(conn: socket.socket) -> None:
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return
            data += piece
        mode = data.split(b" ", 2)[1].decode().split("/")[1]
        dripping = mode.startswith("drip")
        try:
            for piece in _answer(mode):
                conn.sendall(piece)
                if dripping:
                    time.sleep(DRIP)
        except OSError:  # the client cut us off: what the test wants
            return


@pytest.fixture
def hostile() -> Iterator[str]:
    """The base URL of the hostile partner; the first path segment names its behaviour."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture
def key(tmp_path: Path) -> BureauKey:
    return load_or_create(tmp_path / "keys", "350000")


def _partner(base: str, mode: str) -> Partner:
    return Partner("310000", "上海", "310000", f"{base}/{mode}", ())


@pytest.mark.parametrize("mode", ["drip-body", "drip-head"])
def test_a_dripping_partner_is_cut_off_at_the_deadline(
    hostile: str, key: BureauKey, mode: str
) -> None:
    partner = _partner(hostile, mode)
    with PartnerClient(partner, key, deadline=1.0) as feed, pytest.raises(
        SyncRejected, match=r"partner 310000: GET .* no whole answer within 1 s"
    ):  # fmt: skip
        feed.gossip("cosigned")
    with pytest.raises(SyncRejected, match=r"partner 310000: GET .* no whole answer within 1 s"):
        joint_client.get_state(partner, key, "jt-x", deadline=1.0)


def test_an_endless_answer_is_cut_off_at_the_size_bound(hostile: str, key: BureauKey) -> None:
    partner = _partner(hostile, "flood")
    with PartnerClient(partner, key, max_bytes=2**20) as feed, pytest.raises(
        SyncRejected, match=r"partner 310000: GET .* larger than 1048576 bytes"
    ):  # fmt: skip
        feed.gossip("cosigned")


@pytest.mark.parametrize(
    "mode, says",
    [("html", "malformed JSON"), ("deep", "malformed JSON"), ("bad-problem", "HTTP 500: oops")],
)
def test_a_garbled_answer_is_a_refusal_not_a_crash(
    hostile: str, key: BureauKey, mode: str, says: str
) -> None:
    partner = _partner(hostile, mode)
    with pytest.raises(SyncRejected, match=f"partner 310000.*{says}"):
        joint_client.get_state(partner, key, "jt-x")
    with PartnerClient(partner, key) as feed, pytest.raises(SyncRejected, match=says):
        feed.gossip("cosigned")
