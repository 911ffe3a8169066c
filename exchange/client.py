"""A signed HTTP client of one partner's feed (``/exchange/v1``). Transport injectable."""

from __future__ import annotations

import base64
import logging
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


class PartnerClient:
    def __init__(
        self,
        partner: Partner,
        key: BureauKey,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ):
        self.partner = partner
        self.key = key
        self.http = httpx.Client(transport=transport, timeout=timeout)

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
        try:
            resp = self.http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise SyncRejected(f"partner {self.partner.code} unreachable: {exc!r}") from None
        if resp.status_code != 200:
            detail = resp.text[:300]
            if resp.headers.get("content-type", "").startswith("application/problem+json"):
                try:
                    detail = resp.json().get("detail", detail)
                except ValueError:
                    pass
            raise SyncRejected(
                f"partner {self.partner.code}: GET {url} answered HTTP {resp.status_code}: {detail}"
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
        try:
            doc = resp.json()
        except ValueError:
            raise SyncRejected(
                f"partner {self.partner.code}: malformed JSON from {resp.url}"
            ) from None
        if not isinstance(doc, dict):
            raise SyncRejected(f"partner {self.partner.code}: expected a JSON object")
        return doc

    def _hashes(self, items: Any) -> list[bytes]:
        try:
            out = [base64.b64decode(x, validate=True) for x in items]
        except (TypeError, ValueError):
            raise SyncRejected(f"partner {self.partner.code}: malformed proof") from None
        if any(len(h) != 32 for h in out):
            raise SyncRejected(f"partner {self.partner.code}: malformed proof")
        return out
