"""Fixtures of the notification tests: real SMTP and HTTP servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notifications.servers import SmtpSink, WebhookServer


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.stop()
