"""Signed requests to a partner's joint routes (``/exchange/v1/joint``). Transport injectable."""

from __future__ import annotations

from typing import Any

import httpx

from draw.canonical import canonical_json
from exchange.answers import Bounded, json_object, problem_detail
from exchange.bounds import DEADLINE
from exchange.directory import Partner
from exchange.errors import SyncRejected
from exchange.httpsig import sign_request
from exchange.keys import BureauKey

PREFIX = "/exchange/v1/joint"


class Refused(SyncRejected):
    """A partner's answer other than 200: its status and problem detail (a 413 is a body
    past the partner's limit, a 404 a round it has not committed to)."""

    def __init__(self, code: str, status: int, detail: str):
        super().__init__(f"partner {code} answered HTTP {status}: {detail}")
        self.status, self.detail = status, detail


def _send(
    partner: Partner,
    key: BureauKey,
    method: str,
    path: str,
    body: bytes = b"",
    transport: httpx.BaseTransport | None = None,
    deadline: float = DEADLINE,
) -> dict[str, Any]:
    """The partner's JSON answer; SyncRejected for a refusal, a malformed answer, or one that
    does not arrive whole in time (``exchange.answers.Bounded``)."""
    url = str(httpx.URL(partner.base_url + path))
    headers = sign_request(key, method, url, body)
    if body:
        headers["Content-Type"] = "application/json"
    http = Bounded(partner.code, transport=transport, timeout=10.0, deadline=deadline)
    try:
        resp = http.request(method, url, headers, body)
    finally:
        http.close()
    if resp.status_code != 200:
        raise Refused(partner.code, resp.status_code, problem_detail(resp))
    return json_object(partner.code, resp)


def post_statement(
    partner: Partner,
    key: BureauKey,
    joint: str,
    envelope: dict[str, Any],
    payload: str = "",
    transport: httpx.BaseTransport | None = None,
    deadline: float = DEADLINE,
) -> dict[str, Any]:
    body = canonical_json({"envelope": envelope, "payload": payload})
    return _send(partner, key, "POST", f"{PREFIX}/{joint}/statements", body, transport, deadline)


def get_state(
    partner: Partner,
    key: BureauKey,
    joint: str,
    transport: httpx.BaseTransport | None = None,
    deadline: float = DEADLINE,
) -> dict[str, Any]:
    return _send(partner, key, "GET", f"{PREFIX}/{joint}", transport=transport, deadline=deadline)
