"""Webhooks: one POST per message through an ``httpx`` transport, one transport per worker.

A webhook is a single signed POST: no cookies, no redirects, no auth flow. So the channel
hands its request straight to the transport instead of going through ``httpx.Client``, whose
cookie, redirect and auth bookkeeping cost as much again per message. The dispatcher's
transport is ``kept_http.KeptHTTPTransport`` (HTTP/1.1 on ``http.client``, the worker's
connections kept alive across messages); tests may inject any ``httpx.BaseTransport``.

Timeouts, connection errors, 5xx and 429 are transient; other 4xx are permanent. Failing to
connect at all (refused, connect timeout, TLS handshake) is an outage of the host
(``DeliveryError.outage``). DingTalk and
WeCom robots answer 200 with an ``errcode``: their rate limits are transient, the rest permanent.
"""

from __future__ import annotations

import functools
import logging

import httpx

from notifications.channels import DeliveryError
from notifications.wire import WebhookRequest

logger = logging.getLogger(__name__)

# DingTalk 130101 / WeCom 45009: sending too fast; -1: system busy
ROBOT_TRANSIENT_ERRCODES = {-1, 130101, 45009, 45033}
USER_AGENT = "shuangsui-notify"


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> httpx.URL:
    """A round sends many messages to each receiver: parse each URL once (``httpx.URL`` is
    immutable). Raises ``httpx.InvalidURL`` for a malformed one, every time."""
    return httpx.URL(url)


def _robot_errcode(response: httpx.Response) -> tuple[int, str] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and "errcode" in data:
        return int(data["errcode"]), str(data.get("errmsg", ""))
    return None


class WebhookChannel:
    def __init__(self, transport: httpx.BaseTransport, timeout: float, *, owned: bool) -> None:
        self.transport = transport
        self.timeout = httpx.Timeout(timeout).as_dict()
        self._owned = owned  # close the transport with the channel (not an injected one)

    def send(self, request: WebhookRequest, *, robot: bool = False) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **request.headers}
        try:
            outgoing = httpx.Request(
                "POST", _url(request.url), content=request.body, headers=headers,
                extensions={"timeout": self.timeout},
            )  # fmt: skip
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise DeliveryError(f"webhook URL {request.url!r}: {exc}", permanent=True) from exc
        try:
            response = self.transport.handle_request(outgoing)
            try:
                response.read()
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise DeliveryError(f"HTTP: {exc!r}", permanent=False, outage=True) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"HTTP: {exc!r}", permanent=False) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise DeliveryError(f"HTTP {status} {response.text[:200]}", permanent=False)
        if status >= 400:
            raise DeliveryError(f"HTTP {status} {response.text[:200]}", permanent=True)
        if status >= 300:
            raise DeliveryError(f"HTTP {status} (redirects are not followed)", permanent=True)
        if robot:
            err = _robot_errcode(response)
            if err and err[0] != 0:
                code, message = err
                raise DeliveryError(
                    f"robot errcode {code}: {message}",
                    permanent=code not in ROBOT_TRANSIENT_ERRCODES,
                )

    def close(self) -> None:
        if self._owned:
            self.transport.close()
