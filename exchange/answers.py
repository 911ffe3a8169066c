"""A partner's answers, read within their bounds (``exchange.bounds``) by a client that may
meet a slow or hostile partner; used by the feed's client (``exchange.client``) and the joint
rounds' (``joint.client``).

``timeout`` bounds each connect, read and write; besides, every answer must arrive whole
within ``deadline`` seconds and its bound in bytes (:class:`Bounded`), so a partner that
drips its answer a byte at a time, each within the read timeout, or that never stops sending,
is cut off with :class:`SyncRejected`. Bytes are counted as they are decoded: a compressed
answer is inflated a part at a time (``exchange.codings``), never more than its bound and a
part, and one in a coding not asked for is refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from exchange import codings
from exchange.bounds import DEADLINE, MAX_ANSWER_BYTES, REFUSAL_BYTES, Bound, json_values
from exchange.errors import SyncRejected


class Bounded:
    """An ``httpx.Client`` whose answers must arrive whole within ``deadline`` seconds and
    ``max_bytes`` bytes. When the time is up, a watchdog shuts the sockets of the client's
    connections, so a read blocked on a dripping partner returns at once (the per-read
    timeout alone restarts at every byte)."""

    def __init__(
        self,
        code: str,
        *,
        transport: httpx.BaseTransport | None,
        timeout: float,
        deadline: float = DEADLINE,
        max_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.code, self.deadline, self.max_bytes = code, deadline, max_bytes
        self.timeout = timeout
        # the codings this client can bound, whatever httpx would ask for (br, zstd)
        accept = {"Accept-Encoding": codings.ACCEPTED}
        self.http = httpx.Client(transport=transport, timeout=timeout, headers=accept)
        self._streams: list[Any] = []  # the network streams of our connections (httpcore)

    def close(self) -> None:
        self.http.close()

    def _open_streams(self) -> list[Any]:
        return [s for s in self._streams if s.get_extra_info("socket").fileno() != -1]

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            self._streams.append(info["return_value"])

    def _cut(self, fired: threading.Event) -> None:
        fired.set()
        for stream in self._streams:
            with contextlib.suppress(OSError, AttributeError):
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        self._streams.clear()

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes = b"",
        *,
        bound: Bound | None = None,
    ) -> httpx.Response:
        """The whole answer (read and decoded), or SyncRejected naming the partner and what
        went wrong."""
        most = min(self.max_bytes, bound.size) if bound else self.max_bytes
        self._streams = self._open_streams()  # connections the pool has closed are gone
        fired = threading.Event()
        timer = threading.Timer(self.deadline, self._cut, (fired,))
        timer.daemon = True
        timer.start()
        try:
            with self.http.stream(
                method, url, headers=headers, content=content, extensions={"trace": self._trace}
            ) as resp:
                body = self._read(resp, most, bound)
        except httpx.HTTPError as exc:
            if fired.is_set():
                raise SyncRejected(
                    f"partner {self.code}: {method} {url}: no whole answer "
                    f"within {self.deadline:g} s"
                ) from None
            if late := _late(exc, self.timeout):  # it was reached: "unreachable" misleads
                raise SyncRejected(f"partner {self.code}: {method} {url}: {late}") from None
            raise SyncRejected(f"partner {self.code} unreachable: {exc!r}") from None
        finally:
            timer.cancel()
        framing = ("content-encoding", "content-length", "transfer-encoding")  # undone by now
        plain = [(k, v) for k, v in resp.headers.multi_items() if k not in framing]
        return httpx.Response(resp.status_code, headers=plain, content=body, request=resp.request)

    def _read(self, resp: httpx.Response, most: int, bound: Bound | None) -> bytes:
        """The body of a 2xx answer: refused as soon as it shows larger than ``most`` bytes
        (``Content-Length``, else as it is decoded) or holding more than ``bound.values`` JSON
        values (counted while it arrives, afresh each time it doubled past 1 MiB: linear in its
        size; a page of 1,000 entries, 0.3-0.6 MiB, is counted once, when whole).
        Of any other answer, only the first ``REFUSAL_BYTES`` are kept (its problem detail).

        Held once: the parts are written to a ``BytesIO``, whose ``getvalue()`` gives its own
        buffer when no view of it is left (a ``bytearray`` made ``bytes`` is copied: a page
        of 38 MiB held 79 MiB at the peak, and 64 MiB would hold 128)."""
        where = f"partner {self.code}: {resp.request.method} {resp.request.url}"
        what = f", the bound of {bound.what}" if bound else ""
        of = what if bound and bound.size == most else ""  # else the client's own max_bytes
        ok = resp.is_success
        if ok and _announced(resp) > most:
            raise SyncRejected(f"{where}: the answer is larger than {most} bytes{of}; not read")
        values = bound.values if ok and bound else 0
        body, count_at = io.BytesIO(), 2**20  # first at 1 MiB: most pages are counted once, whole
        for part in _decoded(resp, where, 2 * most):
            body.write(part)
            if not ok and body.tell() > REFUSAL_BYTES:
                body.truncate(REFUSAL_BYTES)
                break
            if body.tell() > most:
                raise SyncRejected(
                    f"{where}: the answer is larger than {most} bytes{of}; not read further"
                )
            if values and body.tell() >= count_at:
                count_at *= 2  # part of the body counts one value too many at most
                if _values_in(body, values + 1) > values + 1:
                    raise _many(where, values, what)
        if values and _values_in(body, values) > values:
            raise _many(where, values, what)
        return body.getvalue()


def _values_in(body: io.BytesIO, most: int) -> int:
    """``json_values`` of what ``body`` holds so far, read through a view of its buffer (a
    view left open would make ``getvalue()`` copy it, and refuse the next ``write``)."""
    with body.getbuffer() as view:
        return json_values(view, most)


def _decoded(resp: httpx.Response, where: str, received: int) -> Iterator[bytes]:
    """The answer's body as it arrives, its content coding undone, in parts of at most
    ``codings.PART`` bytes (a read of raw bytes, ``iter_raw``: httpx's own decoding would
    inflate a whole read at once). Refused once more than ``received`` bytes arrived: a gzip
    header's file name, empty deflate blocks and empty gzip members decode to nothing, and
    were read without end until the deadline (an answer in a coding is at most a few bytes
    per 64 KiB larger than what it decodes to; twice its bound is room enough)."""
    if resp.is_stream_consumed:  # made whole by an in-process transport, which httpx decoded
        yield from resp.iter_bytes(codings.PART)
        return
    coding = resp.headers.get("content-encoding", "")
    decoder = codings.decoder(coding)
    if decoder is None:
        raise SyncRejected(
            f"{where}: the answer is in Content-Encoding {shown(coding, 40)}, not one asked "
            f"for ({codings.ACCEPTED}); not read"
        )
    arrived = 0
    try:
        for data in resp.iter_raw():
            arrived += len(data)
            if arrived > received:
                raise SyncRejected(
                    f"{where}: more than {received} bytes received; not read further"
                )
            yield from decoder.parts(data)
        decoder.end()
    except codings.CodingError as exc:
        raise SyncRejected(f"{where}: {exc}; not read further") from None


def _many(where: str, values: int, what: str) -> SyncRejected:
    return SyncRejected(
        f"{where}: the answer holds more than {values} JSON values{what}; not parsed"
    )


def _announced(resp: httpx.Response) -> int:
    """The body's size as its ``Content-Length`` announces it (0: not announced, or
    compressed, so that its size shows only as it is decoded)."""
    length = resp.headers.get("content-length", "")
    if resp.headers.get("content-encoding") or not length.isdigit():
        return 0
    return int(length)


def problem_detail(resp: httpx.Response) -> str:
    """What a refusal says: the problem document's detail, or the start of the body."""
    detail = resp.text[:300]
    if resp.headers.get("content-type", "").startswith("application/problem+json"):
        with contextlib.suppress(ValueError, AttributeError, RecursionError):
            detail = str(resp.json().get("detail", detail))[:300]
    return detail


def json_object(code: str, resp: httpx.Response) -> dict[str, Any]:
    """The answer as a JSON object, or SyncRejected."""
    try:
        doc = resp.json()
    except (ValueError, RecursionError):
        raise SyncRejected(f"partner {code}: malformed JSON from {resp.url}") from None
    if not isinstance(doc, dict):
        raise SyncRejected(f"partner {code}: expected a JSON object")
    return doc


# what can make a lone surrogate of JSON text: an escape of one (its pair may follow), or its
# bytes in UTF-8's form (Python's json decodes bytes with "surrogatepass")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def utf8_text(code: str, resp: httpx.Response, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc``, parsed from ``resp``, or SyncRejected if a string in it holds a lone surrogate
    (``\\ud800`` without its pair): text no UTF-8 can write. A partner's entry holding one
    failed the sync as our own fault (``error``, ``UnicodeEncodeError`` when its leaf bytes
    were made), with a traceback, at every sync. Looked for only when the answer's bytes can
    hold one (RFC 8785 text, which a shuangsui serves, writes none as an escape)."""
    if _SURROGATE.search(resp.content) is None:
        return doc
    try:
        json.dumps(doc, ensure_ascii=False, check_circular=False).encode()
    except UnicodeEncodeError:
        raise SyncRejected(
            f"partner {code}: GET {resp.url}: a string of the answer holds a lone surrogate "
            "(U+D800 to U+DFFF without its pair), which no UTF-8 text holds; not taken"
        ) from None
    return doc


def _late(exc: httpx.HTTPError, timeout: float) -> str | None:
    """What a timeout of one step of a request says (the partner was reached, or not, and
    then went silent for ``timeout`` seconds: a read's, not the whole answer's), or None."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"unreachable: no connection within {timeout:g} s"
    if isinstance(exc, httpx.WriteTimeout):
        return f"connected, but it took no more of the request for {timeout:g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"connected, but nothing of its answer came for {timeout:g} s"
    if isinstance(exc, httpx.PoolTimeout):
        return f"no connection free within {timeout:g} s"
    return None


def shown(text: str, most: int = 200) -> str:
    """A partner's text in a message: at most ``most`` characters, printable."""
    text = text[:most] + ("…" if len(text) > most else "")
    return text if text.isprintable() else ascii(text)
