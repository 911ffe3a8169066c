"""A channel down for longer than the whole retry schedule: no message dies, each is delivered
once when the channel is back, and the coordinator is told once. Real servers on loopback,
stopped and started again on the same port; the schedules are shortened through settings."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from notifications.cli import app as notifications_app
from notifications.dispatch import DispatchReport, dispatch
from notifications.models import ChannelPause, Notification, NotificationKind
from notifications.outbox import enqueue_round_assignments
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.db import session_scope
from tests.notifications.factory import TODAY, make_round
from tests.notifications.servers import SinkHandler, SmtpSink, WebhookServer

RETRY_SCHEDULE = 0.05 + 0.1 + 0.1  # s: backoff before attempts 2, 3 (then dead at 3)
OUTAGE = 4 * RETRY_SCHEDULE + 0.5  # s the channel stays down, dispatching all the while


def _notify(**kw: object) -> NotifySettings:
    base: dict[str, object] = {
        "channel": "live", "webhook_secret": "s" * 32, "processes": 1, "max_attempts": 3,
        "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.1,
        "outage_backoff_base_seconds": 0.1, "outage_backoff_max_seconds": 0.3,
    }  # fmt: skip
    return NotifySettings(**{**base, **kw})  # type: ignore[arg-type]


def _enqueue(engine: Engine, contacts: list[dict] | None = None) -> int:
    world = make_round(engine, enterprises=6, inspector_contacts=contacts)
    with session_scope(engine) as session:
        result = enqueue_round_assignments(
            session=session, round_key=world.round_key, today=TODAY, summary=False
        )
    return result.queued


def _dispatch_for(seconds: float, **kw: object) -> DispatchReport:
    total = DispatchReport()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        total.add(dispatch(**kw))  # type: ignore[arg-type]
        time.sleep(0.02)
    return total


def _rows(engine: Engine) -> list[Notification]:
    with Session(engine) as s:
        return list(s.exec(select(Notification).order_by(Notification.id)).all())


def _pauses(engine: Engine) -> list[ChannelPause]:
    with Session(engine) as s:
        return list(s.exec(select(ChannelPause)).all())


def _status() -> str:
    result = CliRunner().invoke(notifications_app, ["status"])
    assert result.exit_code == 0, result.output
    return result.output


def test_mail_server_down_longer_than_the_retry_schedule(engine: Engine) -> None:
    queued = _enqueue(engine)  # 12 emails
    sink = SmtpSink(SinkHandler())  # not started: connection refused
    smtp = SmtpSettings(port=sink.port, timeout=2)
    notify = _notify(coordinator_email="coordinator@bureau.example.cn")
    down = _dispatch_for(OUTAGE, engine=engine, notify=notify, smtp=smtp)
    assert down.sent == down.dead == down.retried == 0 and down.deferred >= queued + 1
    rows = _rows(engine)
    assert len(rows) == queued + 1  # and the coordinator's notice, waiting like the rest
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    [notice] = [r for r in rows if r.kind == NotificationKind.channel_outage]
    assert notice.address == "coordinator@bureau.example.cn"
    [pause] = _pauses(engine)
    assert pause.channel == f"smtp 127.0.0.1:{sink.port}" and pause.failures > 1
    assert "Connection refused" in pause.last_error
    assert f"paused smtp 127.0.0.1:{sink.port}: down since" in _status()

    sink.start()
    try:
        up = _dispatch_for(1.0, engine=engine, notify=notify, smtp=smtp)
    finally:
        sink.stop()
    assert up.sent == queued + 1 and up.dead == 0
    received = Counter(str(m.message["Message-ID"]) for m in sink.handler.received)
    assert len(received) == queued + 1 and set(received.values()) == {1}
    outage_notices = [
        m for m in sink.handler.received if m.rcpts == ["coordinator@bureau.example.cn"]
    ]
    assert len(outage_notices) == 1 and "无法连接" in str(outage_notices[0].message["Subject"])
    assert all(r.status == "sent" and r.attempts == 1 for r in _rows(engine))
    assert _pauses(engine) == []
    assert "paused" not in _status()


def test_webhook_host_down_longer_than_the_retry_schedule(
    engine: Engine, smtp_sink: SmtpSink
) -> None:
    """One host down; email keeps flowing meanwhile."""
    hooks = WebhookServer().start()
    port = hooks.port
    hooks.stop()  # connection refused from now on
    contacts = [
        {"email": "zhang@bureau.example.cn"},
        {"webhook_url": f"http://127.0.0.1:{port}/hook/a", "webhook_kind": "generic"},
        {"webhook_url": f"http://127.0.0.1:{port}/hook/b", "webhook_kind": "generic"},
        {"webhook_url": f"http://127.0.0.1:{port}/robot/send?access_token=T",
         "webhook_kind": "dingtalk"},
    ]  # fmt: skip
    queued = _enqueue(engine, contacts)  # 12: 3 emails, 9 webhooks
    notify = _notify(coordinator_webhook_url=f"http://127.0.0.1:{port}/coordinator")
    smtp = SmtpSettings(port=smtp_sink.port)
    down = _dispatch_for(OUTAGE, engine=engine, notify=notify, smtp=smtp)
    assert down.sent == 3 and down.dead == down.retried == 0
    [pause] = _pauses(engine)
    assert pause.channel == f"webhook http://127.0.0.1:{port}"
    waiting = [r for r in _rows(engine) if r.status != "sent"]
    assert len(waiting) == queued - 3 + 1 and all(r.attempts == 0 for r in waiting)

    hooks = WebhookServer(port=port).start()
    try:
        up = _dispatch_for(1.0, engine=engine, notify=notify, smtp=smtp)
    finally:
        hooks.stop()
    assert up.sent == queued - 3 + 1 and up.dead == 0
    keys = Counter(h.headers.get("idempotency-key") for h in hooks.hits)
    keys.pop(None, None)  # robots carry none
    paths = Counter(h.path for h in hooks.hits)
    assert paths["/coordinator"] == 1  # told once
    assert sum(paths.values()) == queued - 3 + 1 and set(keys.values()) <= {1}
    assert all(r.status == "sent" for r in _rows(engine)) and _pauses(engine) == []
