"""A compressed answer is bounded by the bytes received too (exchange/answers.py), not only by
what they decode to: a gzip header's file name, empty deflate blocks and empty gzip members
decode to nothing, and a partner sending them without end was read until the deadline."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import httpx
import pytest

from exchange.answers import Bounded
from exchange.errors import SyncRejected

MOST = 2**20
BODY = b'{"entries": []}'


def _deflated(body: bytes) -> bytes:
    z = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return z.compress(body) + z.flush()


NOTHING = {  # ten times the bound received, nothing of it decoded but the body
    "a gzip file name": b"\x1f\x8b\x08\x08\0\0\0\0\0\xff" + b"n" * (10 * MOST) + b"\0"
    + _deflated(BODY) + zlib.crc32(BODY).to_bytes(4, "little") + len(BODY).to_bytes(4, "little"),
    "empty gzip members": gzip.compress(b"") * (10 * MOST // 20) + gzip.compress(BODY),
}  # fmt: skip


def _client(answer: bytes) -> Bounded:
    def handler(request: httpx.Request) -> httpx.Response:
        def pieces() -> Iterator[bytes]:
            for at in range(0, len(answer), 2**16):
                yield answer[at : at + 2**16]

        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=pieces())

    return Bounded("P1", transport=httpx.MockTransport(handler), timeout=5, max_bytes=MOST)


@pytest.mark.parametrize("name", sorted(NOTHING))
def test_an_answer_received_past_its_bound_is_refused_whatever_it_decodes_to(name: str) -> None:
    with pytest.raises(SyncRejected, match="received"):
        _client(NOTHING[name]).request("GET", "https://p1.example/feed", {})


def test_an_answer_within_its_bound_is_read() -> None:
    answer = _client(gzip.compress(BODY)).request("GET", "https://p1.example/feed", {})
    assert answer.content == BODY
