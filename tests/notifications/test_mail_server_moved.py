"""Mail through the bureau's mail server lifts an older server's pause.

A channel found down is paused (``channel_pause``) and lifted when a message gets through it.
After the bureau moved to another mail server (SHUANGSUI_SMTP_HOST/PORT), the old server's
pause was never lifted, since nothing went that way any more: `notifications status` said
"paused smtp 127.0.0.1:25 … next try after <past>" after every message had gone through the
new server, as if mail were down (found following the README's production path). A bureau
sends its mail through one server: mail getting through it lifts the others' pauses. A real
SMTP server; SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine

from notifications.settings import SmtpSettings
from tests.notifications.servers import SinkHandler, SmtpSink
from tests.notifications.test_outage import (
    OUTAGE,
    _dispatch_for,
    _enqueue,
    _notify,
    _pauses,
    _rows,
    _status,
)


def test_mail_through_the_new_server_lifts_the_old_servers_pause(engine: Engine) -> None:
    queued = _enqueue(engine)  # 12 emails
    old = SmtpSink(SinkHandler())  # never started: connection refused, as a server gone
    notify = _notify()
    _dispatch_for(OUTAGE, engine=engine, notify=notify, smtp=SmtpSettings(port=old.port))
    assert [p.channel for p in _pauses(engine)] == [f"smtp 127.0.0.1:{old.port}"]

    new = SmtpSink(SinkHandler()).start()  # the bureau's mail server now
    try:
        up = _dispatch_for(1.0, engine=engine, notify=notify, smtp=SmtpSettings(port=new.port))
    finally:
        new.stop()
    assert up.sent == queued and all(r.status == "sent" for r in _rows(engine))
    assert len(new.handler.received) == queued
    assert _pauses(engine) == []
    assert "paused" not in _status()
