"""A partner's answer in a content coding (``Content-Encoding``), undone a part at a time so
that it is never held more inflated than its bound (docs/exchange-protocol.md, "Answer
bounds"). Pure: the reader (:class:`exchange.answers.Bounded`) feeds the bytes as they arrive
and counts each part against the answer's bound before it asks for the next.

httpx inflates each read at once: the 65 KB of a gzip bomb became 64 MiB before any bound was
checked (a checkpoint, bounded at 1 MiB, held 141 MiB). Here zlib gives at most :data:`PART`
bytes a call (``decompress(data, max_length)``; what it has not read yet waits in
``unconsumed_tail``), so a bomb costs its bound and a part.

gzip and deflate are asked for (:data:`ACCEPTED`): answers between bureaus are JSON that
compresses tenfold, and a bureau's TLS proxy may compress them. Any other coding (``br``,
``zstd``, two codings at once) was not asked for and is refused, not guessed at.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

ACCEPTED = "gzip, deflate"  # the Accept-Encoding of every request to a partner
PART = 64 * 2**10  # bytes inflated at a time

GZIP = 16 + zlib.MAX_WBITS  # RFC 1952: header, deflate, CRC-32 and size
ZLIB = zlib.MAX_WBITS  # RFC 1950: what RFC 9110 (8.4.1.2) calls deflate
RAW = -zlib.MAX_WBITS  # deflate without a wrapper, as some servers send "deflate"


class CodingError(ValueError):
    """The answer's bytes are not what its Content-Encoding says (the message says how)."""


class Decoder(Protocol):
    def parts(self, data: bytes) -> Iterator[bytes]:
        """What ``data``, the next bytes received, decodes to, in parts of at most PART."""
        ...

    def end(self) -> None:
        """CodingError if the answer stopped inside its coding."""
        ...


def decoder(coding: str) -> Decoder | None:
    """The decoder for a ``Content-Encoding`` value ('' or ``identity``: none), or None for
    a coding not asked for."""
    name = coding.strip().lower()
    if name in ("", "identity"):
        return Identity()
    if name in ("gzip", "x-gzip"):  # RFC 9110 8.4.1.3: x-gzip is gzip
        return Inflate("gzip")
    if name == "deflate":
        return Inflate("deflate")
    return None


class Identity:
    """No coding: the bytes as they arrive (a network read is at most 64 KiB: one part)."""

    def parts(self, data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), PART):
            yield data[start : start + PART]

    def end(self) -> None:
        pass


class Inflate:
    """gzip (any number of members, RFC 1952 2.2) or deflate (the zlib format, or raw as some
    servers send it: told apart by its first two bytes)."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._head = b""  # the first bytes, until there are two to tell the format by
        self._zlib: zlib._Decompress | None = None  # once the format is known

    def parts(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._zlib = zlib.decompressobj(self._format(data))
        try:
            yield from self._inflate(self._zlib, data)
        except zlib.error as exc:
            raise CodingError(f"the answer's {self.coding} coding is malformed ({exc})") from None

    def _format(self, head: bytes) -> int:
        if self.coding == "gzip":
            return GZIP
        return ZLIB if _zlib_header(head) else RAW

    def _inflate(self, z: zlib._Decompress, data: bytes) -> Iterator[bytes]:
        """At most PART bytes a call, until all of ``data`` is read and nothing is pending
        (a part of exactly PART may leave output inside zlib: it is asked for once more)."""
        while True:
            part = z.decompress(data, PART)
            data = z.unconsumed_tail
            if part:
                yield part
            if z.eof and z.unused_data:  # bytes after the end: another gzip member
                z, data = self._next_member(), z.unused_data
            elif not data and len(part) < PART:
                return

    def _next_member(self) -> zlib._Decompress:
        if self.coding != "gzip":
            raise CodingError(f"the answer has bytes after the end of its {self.coding} coding")
        self._zlib = zlib.decompressobj(GZIP)
        return self._zlib

    def end(self) -> None:
        received = self._zlib is not None or self._head  # a refusal may have no body at all
        if received and (self._zlib is None or not self._zlib.eof):
            raise CodingError(f"the answer ends inside its {self.coding} coding")


def _zlib_header(head: bytes) -> bool:
    """Whether ``head`` opens the zlib format (RFC 1950 2.2): method 8 (deflate), a window of
    at most 32 KiB, and the first two bytes, read as a number, a multiple of 31."""
    method, window = head[0] & 0x0F, head[0] >> 4
    return method == 8 and window <= 7 and int.from_bytes(head[:2], "big") % 31 == 0
