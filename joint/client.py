"""Signed requests to a partner's joint routes (``/exchange/v1/joint``). Transport injectable."""

from __future__ import annotations

from typing import Any

import httpx

from draw.canonical import canonical_json
from exchange.directory import Partner
from exchange.errors import SyncRejected
from exchange.httpsig import sign_request
from exchange.keys import BureauKey

PREFIX = "/exchange/v1/joint"


def _answer(partner: Partner, resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code != 200:
        detail = resp.text[:300]
        if resp.headers.get("content-type", "").startswith("application/problem+json"):
            detail = resp.json().get("detail", detail)
        raise SyncRejected(f"partner {partner.code} answered HTTP {resp.status_code}: {detail}")
    doc = resp.json()
    if not isinstance(doc, dict):
        raise SyncRejected(f"partner {partner.code}: expected a JSON object")
    return doc


def _send(
    partner: Partner,
    key: BureauKey,
    method: str,
    path: str,
    body: bytes = b"",
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    url = str(httpx.URL(partner.base_url + path))
    headers = sign_request(key, method, url, body)
    if body:
        headers["Content-Type"] = "application/json"
    try:
        with httpx.Client(transport=transport, timeout=10.0) as http:
            resp = http.request(method, url, headers=headers, content=body)
    except httpx.HTTPError as exc:
        raise SyncRejected(f"partner {partner.code} unreachable: {exc!r}") from None
    return _answer(partner, resp)


def post_statement(
    partner: Partner,
    key: BureauKey,
    joint: str,
    envelope: dict[str, Any],
    payload: str = "",
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    body = canonical_json({"envelope": envelope, "payload": payload})
    return _send(partner, key, "POST", f"{PREFIX}/{joint}/statements", body, transport)


def get_state(
    partner: Partner, key: BureauKey, joint: str, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    return _send(partner, key, "GET", f"{PREFIX}/{joint}", transport=transport)
