"""A signed HTTP client of one partner's feed (``/exchange/v1``). Transport injectable.

A partner may be slow or hostile. ``timeout`` bounds each connect, read and write; besides,
every answer must arrive whole within ``deadline`` seconds and ``max_bytes`` bytes
(:class:`Bounded`), so a partner that drips its answer a byte at a time, each within the read
timeout, or that never stops sending, is cut off with :class:`SyncRejected`.

Each answer is bounded by what it can legitimately be (:class:`Bound`, docs/exchange-protocol.md
"Answer bounds"): a checkpoint, a proof, witness gossip, a page of the entries asked for; a
JSON answer's values are counted before it is parsed, since a few bytes parse into a large
object (``{}``: 3 bytes, a 64-byte dict). Every request goes to the partner's ``base_url``:
the next page is asked for from where the last one stopped, never at a ``rel="next"`` link.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from exchange.directory import Partner
from exchange.errors import NoteError, SyncRejected
from exchange.httpsig import sign_request
from exchange.keys import BureauKey
from exchange.notes import Checkpoint, parse_checkpoint

logger = logging.getLogger(__name__)
PREFIX = "/exchange/v1"
DEADLINE = 120.0  # seconds for a whole answer (a page of entries, a joint round's frames)
MAX_ANSWER_BYTES = 64 * 2**20  # any answer (a joint round's frames, a page of large entries)
REFUSAL_BYTES = 64 * 2**10  # what is read of an answer other than 2xx: its problem detail


@dataclass(frozen=True)
class Bound:
    """What one kind of answer can legitimately be: at most ``size`` bytes and, for JSON, at
    most ``values`` JSON values (docs/exchange-protocol.md, "Answer bounds")."""

    what: str
    size: int
    values: int = 0  # 0: not JSON


CHECKPOINT = Bound("a checkpoint", 2**20)  # a note of ~8,000 signature lines
PROOF = Bound("a proof", 64 * 2**10, 512)  # at most 2 x 64 hashes of 44 characters
GOSSIP = Bound("witness gossip", 8 * 2**20, 100_000)  # a note per log witnessed; proofs
PAGE_LIMIT = 10_000  # entries asked per page: the largest page a server makes
PAGE_BYTES = MAX_ANSWER_BYTES  # the protocol sets no largest entry (a round's exclusions)


def page_bound(limit: int) -> Bound:
    """A page of at most ``limit`` entries ``{"seq", "entry"}``: 5 values each, 16 allowed."""
    return Bound(f"a page of {limit} entries", PAGE_BYTES, 16 * limit + 64)


# One JSON value (a string or key, an object or array as it opens, a number or literal), or
# a run of what separates values (group 1, not counted). Linear: no alternative backtracks.
_VALUE = re.compile(
    rb'([\s\]},:]++)|"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[\[{]|[^\s\[\]{},:"]++', re.DOTALL
)


def json_values(body: bytes | bytearray, most: int) -> int:
    """How many JSON values ``body`` holds, counted up to ``most`` + 1 at most: a scan, not a
    parse. Malformed JSON is counted as well as it goes; the parser refuses it afterwards."""
    n = 0
    for match in _VALUE.finditer(body):
        if match.start(1) < 0:
            n += 1
            if n > most:
                break
    return n


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
        self.http = httpx.Client(transport=transport, timeout=timeout)
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
        """The whole answer (read), or SyncRejected naming the partner and what went wrong."""
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
            raise SyncRejected(f"partner {self.code} unreachable: {exc!r}") from None
        finally:
            timer.cancel()
        framing = ("content-encoding", "content-length", "transfer-encoding")  # undone by now
        plain = [(k, v) for k, v in resp.headers.multi_items() if k not in framing]
        return httpx.Response(
            resp.status_code, headers=plain, content=bytes(body), request=resp.request
        )

    def _read(self, resp: httpx.Response, most: int, bound: Bound | None) -> bytearray:
        """The body of a 2xx answer: refused as soon as it shows larger than ``most`` bytes
        (``Content-Length``, else as it arrives) or holding more than ``bound.values`` JSON
        values (counted while it arrives, afresh each time it doubled: linear in its size).
        Of any other answer, only the first ``REFUSAL_BYTES`` are kept (its problem detail)."""
        where = f"partner {self.code}: {resp.request.method} {resp.request.url}"
        what = f", the bound of {bound.what}" if bound else ""
        of = what if bound and bound.size == most else ""  # else the client's own max_bytes
        ok = resp.is_success
        if ok and _announced(resp) > most:
            raise SyncRejected(f"{where}: the answer is larger than {most} bytes{of}; not read")
        values = bound.values if ok and bound else 0
        body, count_at = bytearray(), 2**16  # values first counted at 64 KiB
        for chunk in resp.iter_bytes():
            body += chunk
            if not ok and len(body) > REFUSAL_BYTES:
                del body[REFUSAL_BYTES:]
                break
            if len(body) > most:
                raise SyncRejected(
                    f"{where}: the answer is larger than {most} bytes{of}; not read further"
                )
            if values and len(body) >= count_at:
                count_at *= 2  # part of the body counts one value too many at most
                if json_values(body, values + 1) > values + 1:
                    raise _many(where, values, what)
        if values and json_values(body, values) > values:
            raise _many(where, values, what)
        return body


def _many(where: str, values: int, what: str) -> SyncRejected:
    return SyncRejected(
        f"{where}: the answer holds more than {values} JSON values{what}; not parsed"
    )


def _announced(resp: httpx.Response) -> int:
    """The body's size as its ``Content-Length`` announces it (0: not announced, or
    compressed, so that its size shows only as it arrives)."""
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


class PartnerClient:
    def __init__(
        self,
        partner: Partner,
        key: BureauKey,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        deadline: float = DEADLINE,
        max_bytes: int = MAX_ANSWER_BYTES,
    ):
        self.partner = partner
        self.key = key
        self.http = Bounded(
            partner.code,
            transport=transport,
            timeout=timeout,
            deadline=deadline,
            max_bytes=max_bytes,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PartnerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, path: str, params: dict[str, Any] | None = None) -> str:
        """``path`` under the partner's ``base_url`` (an absolute URL must lie there too)."""
        url = httpx.URL(path if path.startswith("http") else self.partner.base_url + path)
        base = httpx.URL(self.partner.base_url)
        if _origin(url) != _origin(base) or not url.path.startswith(base.path.rstrip("/") + "/"):
            raise SyncRejected(
                f"partner {self.partner.code}: {_shown(str(url))} is not under its base_url "
                f"{self.partner.base_url}; not requested"
            )
        return str(url.copy_merge_params(params) if params else url)

    def get(
        self, path: str, params: dict[str, Any] | None = None, bound: Bound | None = None
    ) -> httpx.Response:
        url = self._url(path, params)
        headers = sign_request(self.key, "GET", url)
        resp = self.http.request("GET", url, headers, bound=bound)
        if resp.status_code != 200:
            raise SyncRejected(
                f"partner {self.partner.code}: GET {url} answered HTTP {resp.status_code}: "
                f"{problem_detail(resp)}"
            )
        return resp

    def checkpoint(self) -> Checkpoint:
        resp = self.get(f"{PREFIX}/checkpoint", bound=CHECKPOINT)
        try:
            return parse_checkpoint(resp.text, list(self.partner.keys), self.partner.origin)
        except NoteError as exc:
            raise SyncRejected(f"partner {self.partner.code}: checkpoint rejected: {exc}") from None

    def gossip(self, name: str) -> list[Any]:
        """The list ``name`` (``cosigned`` or ``proofs``) of GET /cosignatures or
        /equivocations."""
        path = {"cosigned": "cosignatures", "proofs": "equivocations"}[name]
        items = self._json(self.get(f"{PREFIX}/{path}", bound=GOSSIP)).get(name)
        if not isinstance(items, list):
            raise SyncRejected(f"partner {self.partner.code}: /{path} without a list {name!r}")
        return items

    def consistency(self, first: int, second: int) -> list[bytes]:
        params = {"first": first, "second": second}
        doc = self._json(self.get(f"{PREFIX}/proof/consistency", params, PROOF))
        return self._hashes(doc.get("proof"))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        params = {"index": index, "size": size}
        doc = self._json(self.get(f"{PREFIX}/proof/inclusion", params, PROOF))
        return self._hashes(doc.get("proof"))

    def pages(self, start: int, end: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of raw entries ``{"seq", "entry"}`` in [start, end), at most ``PAGE_LIMIT``
        each; an empty page ends them. Each next page is asked for from where the last one
        stopped (docs/exchange-protocol.md, "Paging"): a ``rel="next"`` link is never
        followed, and one that is not the partner's own entries is refused."""
        bound = page_bound(PAGE_LIMIT)
        while start < end:
            params = {"start": start, "end": end, "limit": PAGE_LIMIT}
            resp = self.get(f"{PREFIX}/entries", params, bound)
            entries = self._json(resp).get("entries")
            if not isinstance(entries, list):
                raise SyncRejected(f"partner {self.partner.code}: a page without entries")
            asked = min(PAGE_LIMIT, end - start)
            if len(entries) > asked:
                raise SyncRejected(
                    f"partner {self.partner.code}: a page of {len(entries)} entries from "
                    f"{start}, more than the {asked} asked for"
                )
            self._check_next(resp)
            yield entries
            if not entries:
                return
            start += len(entries)

    def _check_next(self, resp: httpx.Response) -> None:
        """A page's ``rel="next"`` link, if any, must be the partner's own entries: same
        scheme, host and port as its ``base_url``, path ``/exchange/v1/entries`` under its
        base path or, as a server behind a proxy that strips that path writes it, at the
        root. It is not followed either way; another is a partner misbehaving."""
        link = resp.links.get("next", {}).get("url")
        if link is None:
            return
        try:
            target: httpx.URL | None = resp.url.join(link)
        except (httpx.InvalidURL, ValueError, TypeError):
            target = None
        base = httpx.URL(self.partner.base_url)
        paths = (base.path.rstrip("/") + f"{PREFIX}/entries", f"{PREFIX}/entries")
        if target is None or _origin(target) != _origin(base) or target.path not in paths:
            raise SyncRejected(
                f'partner {self.partner.code}: refused its rel="next" link <{_shown(link)}>: '
                f"not the entries of its base_url {self.partner.base_url}; not followed"
            )

    def _json(self, resp: httpx.Response) -> dict[str, Any]:
        return json_object(self.partner.code, resp)

    def _hashes(self, items: Any) -> list[bytes]:
        try:
            out = [base64.b64decode(x, validate=True) for x in items]
        except (TypeError, ValueError):
            raise SyncRejected(f"partner {self.partner.code}: malformed proof") from None
        if any(len(h) != 32 for h in out):
            raise SyncRejected(f"partner {self.partner.code}: malformed proof")
        return out


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _shown(text: str, most: int = 200) -> str:
    """A partner's text in a message: at most ``most`` characters, printable."""
    text = text[:most] + ("…" if len(text) > most else "")
    return text if text.isprintable() else ascii(text)
