"""Turning a claimed outbox row into bytes on the right channel (or the file outbox)."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from notifications.channels import DeliveryError
from notifications.channels.file import FileChannel
from notifications.channels.kept_http import KeptHTTPTransport
from notifications.channels.smtp import SmtpChannel
from notifications.channels.webhook import WebhookChannel
from notifications.settings import NotifySettings, SmtpSettings
from notifications.wire import build_email, build_webhook
from shuangsui.config import Settings


class Connections:
    """One worker's own connections: an SMTP session and a webhook transport, reused across
    that worker's messages and never shared with another thread. Both open on first use."""

    def __init__(self, smtp: SmtpChannel, webhooks: Callable[[], WebhookChannel]) -> None:
        self.smtp = smtp
        self._open_webhooks = webhooks
        self._webhooks: WebhookChannel | None = None

    @property
    def webhooks(self) -> WebhookChannel:
        if self._webhooks is None:
            self._webhooks = self._open_webhooks()
        return self._webhooks

    def close(self) -> None:
        try:
            self.smtp.close()
        finally:
            if self._webhooks is not None:
                self._webhooks.close()


class Delivery:
    """Turns a claimed row into bytes on the right channel."""

    def __init__(self, settings: Settings, notify: NotifySettings, smtp: SmtpSettings,
                 clock: Callable[[], datetime],
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        self.live = notify.live(settings)
        self.notify, self.smtp_settings, self.clock = notify, smtp, clock
        self.transport = transport
        self.files = FileChannel(notify.outbox_dir(settings))
        self.secret = notify.resolved_webhook_secret(settings)
        self.dingtalk_secret = notify.dingtalk_secret.get_secret_value()
        self.password = smtp.resolved_password() if (self.live and smtp.username) else None
        self.smtp_key = f"smtp {smtp.host}:{smtp.port}"
        self._webhook_keys: dict[str, str | None] = {}  # address -> channel key
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()

    def connections(self) -> Connections:
        """A new worker's connections (each opened on its first message)."""
        return Connections(SmtpChannel(self.smtp_settings, password=self.password),
                           self._webhook_channel)  # fmt: skip

    def _webhook_channel(self) -> WebhookChannel:
        if self.transport is not None:
            return WebhookChannel(self.transport, self.notify.webhook_timeout, owned=False)
        transport = KeptHTTPTransport(self._tls_context())
        return WebhookChannel(transport, self.notify.webhook_timeout, owned=True)

    def _tls_context(self) -> ssl.SSLContext:
        """One TLS context (httpx's default: certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR)
        for every worker's transport. Loading the CA bundle costs 20-50 ms of CPU, which a
        context per worker paid again before its first message."""
        with self._tls_lock:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            return self._tls

    def channel_key(self, row) -> str | None:  # type: ignore[no-untyped-def]
        """The channel ``row`` goes out on, as circuit breaking knows it: the SMTP server, or
        the webhook's host; ``None`` for the file outbox (nothing there can be down)."""
        channel = str(row.channel)
        if not self.live or channel in ("file", "none") or not row.address:
            return None
        if channel == "email":
            return self.smtp_key
        try:  # a round sends many messages to each address: split each URL once
            return self._webhook_keys[row.address]
        except KeyError:
            key = self._webhook_keys[row.address] = _webhook_key(row.address)
            return key

    def deliver(self, row, conns: Connections) -> None:  # type: ignore[no-untyped-def]
        channel = str(row.channel)
        if channel == "none" or (channel != "file" and not row.address):
            raise DeliveryError(
                "no usable address (no valid email, no webhook URL)", permanent=True
            )
        if channel in ("email", "file"):
            data = build_email(
                key=row.idempotency_key, sender=self.smtp_settings.sender,
                to=row.address if channel == "email" else "", subject=row.subject,
                body=row.body, created_at=row.created_at, kind=str(row.kind),
                round_key=row.round_key,
            )  # fmt: skip
            if channel == "file" or not self.live:
                self.files.write(row.idempotency_key, ".eml", data)
            else:
                conns.smtp.send(self.smtp_settings.sender, row.address, data)
            return
        request = build_webhook(
            channel=channel, url=row.address, key=row.idempotency_key, subject=row.subject,
            body=row.body, payload=row.payload, now=self.clock(), secret=self.secret,
            dingtalk_secret=self.dingtalk_secret,
        )  # fmt: skip
        if not self.live:
            doc = b'{"url":%s,"headers":%s,"body":%s}' % (
                _j(request.url), _j(request.headers), request.body,
            )  # fmt: skip
            self.files.write(row.idempotency_key, ".json", doc)
            return
        conns.webhooks.send(request, robot=channel in ("dingtalk", "wecom"))


def _webhook_key(address: str) -> str | None:
    try:
        url = urlsplit(address)
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        return None  # not a URL: the channel says so, permanently
    return f"webhook {url.scheme}://{url.hostname}:{port}"


def _j(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()
