"""A signed HTTP client of one partner's feed (``/exchange/v1``). Transport injectable.

A partner may be slow or hostile. ``timeout`` bounds each connect, read and write; besides,
every answer must arrive whole within ``deadline`` seconds and ``max_bytes`` bytes
(:class:`Bounded`), so a partner that drips its answer a byte at a time, each within the read
timeout, or that never stops sending, is cut off with :class:`SyncRejected`.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
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
MAX_ANSWER_BYTES = 64 * 2**20


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
        self, method: str, url: str, headers: dict[str, str], content: bytes = b""
    ) -> httpx.Response:
        """The whole answer (read), or SyncRejected naming the partner and what went wrong."""
        self._streams = self._open_streams()  # connections the pool has closed are gone
        fired = threading.Event()
        timer = threading.Timer(self.deadline, self._cut, (fired,))
        timer.daemon = True
        timer.start()
        try:
            with self.http.stream(
                method, url, headers=headers, content=content, extensions={"trace": self._trace}
            ) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise SyncRejected(
                            f"partner {self.code}: {method} {url}: the answer "
                            f"is larger than {self.max_bytes} bytes"
                        )
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


def problem_detail(resp: httpx.Response) -> str:
    """What a refusal says: the problem document's detail, or the start of the body."""
    detail = resp.text[:300]
    if resp.headers.get("content-type", "").startswith("application/problem+json"):
        with contextlib.suppress(ValueError, AttributeError, RecursionError):
            detail = str(resp.json().get("detail", detail))
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
        url = httpx.URL(path if path.startswith("http") else self.partner.base_url + path)
        return str(url.copy_merge_params(params) if params else url)

    def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        url = self._url(path, params)
        headers = sign_request(self.key, "GET", url)
        resp = self.http.request("GET", url, headers)
        if resp.status_code != 200:
            raise SyncRejected(
                f"partner {self.partner.code}: GET {url} answered HTTP {resp.status_code}: "
                f"{problem_detail(resp)}"
            )
        return resp

    def checkpoint(self) -> Checkpoint:
        resp = self.get(f"{PREFIX}/checkpoint")
        try:
            return parse_checkpoint(resp.text, list(self.partner.keys), self.partner.origin)
        except NoteError as exc:
            raise SyncRejected(f"partner {self.partner.code}: checkpoint rejected: {exc}") from None

    def gossip(self, name: str) -> list[Any]:
        """The list ``name`` (``cosigned`` or ``proofs``) of GET /cosignatures or
        /equivocations."""
        path = {"cosigned": "cosignatures", "proofs": "equivocations"}[name]
        items = self._json(self.get(f"{PREFIX}/{path}")).get(name)
        if not isinstance(items, list):
            raise SyncRejected(f"partner {self.partner.code}: /{path} without a list {name!r}")
        return items

    def consistency(self, first: int, second: int) -> list[bytes]:
        doc = self._json(
            self.get(f"{PREFIX}/proof/consistency", {"first": first, "second": second})
        )
        return self._hashes(doc.get("proof"))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        doc = self._json(self.get(f"{PREFIX}/proof/inclusion", {"index": index, "size": size}))
        return self._hashes(doc.get("proof"))

    def pages(self, start: int, end: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of raw entries ``{"seq", "entry"}`` in [start, end), following rel="next"."""
        url: str | None = self._url(f"{PREFIX}/entries", {"start": start, "end": end})
        while url:
            resp = self.get(url)
            doc = self._json(resp)
            entries = doc.get("entries")
            if not isinstance(entries, list):
                raise SyncRejected(f"partner {self.partner.code}: a page without entries")
            yield entries
            nxt = resp.links.get("next", {}).get("url")
            url = str(resp.url.join(nxt)) if nxt else None

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
