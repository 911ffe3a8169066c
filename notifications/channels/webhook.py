"""Webhooks over one shared ``httpx.Client`` (inject the transport in tests).

Timeouts, connection errors, 5xx and 429 are transient; other 4xx are permanent. DingTalk and
WeCom robots answer 200 with an ``errcode``: their rate limits are transient, the rest permanent.
"""

from __future__ import annotations

import logging

import httpx

from notifications.channels import DeliveryError
from notifications.wire import WebhookRequest

logger = logging.getLogger(__name__)

# DingTalk 130101 / WeCom 45009: sending too fast; -1: system busy
ROBOT_TRANSIENT_ERRCODES = {-1, 130101, 45009, 45033}


def _robot_errcode(response: httpx.Response) -> tuple[int, str] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and "errcode" in data:
        return int(data["errcode"]), str(data.get("errmsg", ""))
    return None


class WebhookChannel:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, request: WebhookRequest, *, robot: bool = False) -> None:
        try:
            response = self.client.post(request.url, content=request.body, headers=request.headers)
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
