"""A signed HTTP client of one partner's feed (``/exchange/v1``). Transport injectable.

Each answer is read within what it can legitimately be (``exchange.bounds``: a checkpoint, a
proof, witness gossip, a page of the entries asked for), in time, bytes and JSON values, by
:class:`exchange.answers.Bounded`, which cuts off a slow or hostile partner with
:class:`SyncRejected`. Every request goes to the partner's ``base_url``: the next page is
asked for from where the last one stopped, never at a ``rel="next"`` link.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx

from exchange.answers import Bounded, json_object, problem_detail, shown, utf8_text
from exchange.bounds import (
    ABOUT,
    CHECKPOINT,
    DEADLINE,
    GOSSIP,
    MAX_ANSWER_BYTES,
    PAGE_LIMIT,
    PROOF,
    Bound,
    page_bound,
)
from exchange.directory import Partner
from exchange.entries import iso
from exchange.errors import NoteError, SyncRejected, UnknownSigner
from exchange.httpsig import sign_request
from exchange.keys import BureauKey
from exchange.notes import Checkpoint, parse_checkpoint
from exchange.settings import exchange_settings

PREFIX = "/exchange/v1"


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
                f"partner {self.partner.code}: {shown(str(url))} is not under its base_url "
                f"{self.partner.base_url}; not requested"
            )
        return str(url.copy_merge_params(params) if params else url)

    def get(
        self, path: str, params: dict[str, Any] | None = None, bound: Bound | None = None,
        absent: bool = False,
    ) -> httpx.Response:  # fmt: skip
        """The 200 answer, or SyncRejected; with ``absent``, a 404 is returned too."""
        url = self._url(path, params)
        headers = sign_request(self.key, "GET", url)
        resp = self.http.request("GET", url, headers, bound=bound)
        if resp.status_code != 200 and not (absent and resp.status_code == 404):
            raise SyncRejected(
                f"partner {self.partner.code}: GET {url} answered HTTP {resp.status_code}: "
                f"{problem_detail(resp)}"
            )
        return resp

    def checkpoint(self) -> Checkpoint:
        """The partner's latest checkpoint, its signature verified and its time not ahead of
        our clock by more than :func:`ahead_by` allows."""
        resp = self.get(f"{PREFIX}/checkpoint", bound=CHECKPOINT)
        try:
            cp = parse_checkpoint(resp.text, list(self.partner.keys), self.partner.origin)
            ahead_by(cp, dt.datetime.now(dt.UTC))
        except NoteError as exc:
            raise SyncRejected(f"partner {self.partner.code}: checkpoint rejected: {exc}"
                               f"{self._new_key(exc)}") from None  # fmt: skip
        return cp

    def _new_key(self, exc: NoteError) -> str:
        """What to do when the checkpoint is signed by a key of the partner's name that the
        directory does not list: the partner made a new key (or lost its old one)."""
        own = self.partner.origin + "+"
        if not isinstance(exc, UnknownSigner) or not any(s.startswith(own) for s in exc.signers):
            return ""
        return (f": if {self.partner.code} has made a new key, ask its operators for its verifier "
                f"key (`shuangsui partners keygen` there prints it) and add it to keys of its "
                "[[partner]] entry in the partner directory")  # fmt: skip

    def about(self) -> dict[str, Any] | None:
        """What the partner's feed says of itself (``exchange.about``: not checked here), or
        None when it answers 404, as a shuangsui older than the statement does."""
        resp = self.get(f"{PREFIX}/about", bound=ABOUT, absent=True)
        return None if resp.status_code == 404 else self._json(resp)

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
                f'partner {self.partner.code}: refused its rel="next" link <{shown(link)}>: '
                f"not the entries of its base_url {self.partner.base_url}; not followed"
            )

    def _json(self, resp: httpx.Response) -> dict[str, Any]:
        return utf8_text(self.partner.code, resp, json_object(self.partner.code, resp))

    def _hashes(self, items: Any) -> list[bytes]:
        try:
            out = [base64.b64decode(x, validate=True) for x in items]
        except (TypeError, ValueError):
            raise SyncRejected(f"partner {self.partner.code}: malformed proof") from None
        if any(len(h) != 32 for h in out):
            raise SyncRejected(f"partner {self.partner.code}: malformed proof")
        return out


def ahead_by(cp: Checkpoint, now: dt.datetime) -> None:
    """``NoteError`` if the checkpoint's ``time`` is more than
    ``SHUANGSUI_EXCHANGE_SIGNATURE_MAX_AGE`` seconds (300) after ``now``, our clock. The partner
    answered our signed request, which a shuangsui refuses once its ``created`` is older than
    that (its own setting, 300 s unless set), so its clock is not that far ahead of ours: a
    time further ahead is not when the checkpoint was signed. Cosigned, it would be witnessed
    as signed then; kept, a round still gathering ``partner-checkpoints`` would take it as
    signed after its commitment, at every draw to come (docs/exchange-protocol.md, "A
    checkpoint dated ahead of our clock")."""
    bound = exchange_settings().exchange_signature_max_age
    ahead = int((cp.time - now).total_seconds())
    if ahead > bound:
        raise NoteError(f"its time {iso(cp.time)} is {ahead} s after our clock ({iso(now)}), "
                        f"more than the {bound} s two bureaus' clocks may differ "
                        "(SHUANGSUI_EXCHANGE_SIGNATURE_MAX_AGE): a checkpoint is not signed "
                        "ahead of its time; check the clocks of both bureaus")  # fmt: skip


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port
