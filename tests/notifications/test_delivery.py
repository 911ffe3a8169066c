"""A round's messages through the outbox to real SMTP and HTTP servers, on both databases."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from notifications.admin import dead_letters, status_counts, unreachable_recipients
from notifications.dispatch import dispatch
from notifications.links import assignment_token
from notifications.models import Notification
from notifications.outbox import enqueue_round_assignments
from notifications.settings import NotifySettings, SmtpSettings
from notifications.wire import verify_generic
from shuangsui.db import session_scope
from tests.notifications.factory import TODAY, make_round
from tests.notifications.servers import SmtpSink, WebhookServer

SECRET = b"test-webhook-secret"


def _notify(**kw: object) -> NotifySettings:
    base = {"channel": "live", "webhook_secret": SECRET.decode(), "backoff_base_seconds": 60.0}
    return NotifySettings(**{**base, **kw})  # type: ignore[arg-type]


def _enqueue(engine: Engine, round_key: str, **kw: object):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return enqueue_round_assignments(
            session=session, round_key=round_key, today=TODAY, summary=False, **kw
        )


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return status_counts(session=s)


def _rows(engine: Engine) -> list[Notification]:
    with Session(engine) as s:
        return list(s.exec(select(Notification).order_by(Notification.id)).all())


def test_a_round_reaches_smtp_and_webhooks_with_the_right_content(
    engine: Engine, smtp_sink: SmtpSink, webhook_server: WebhookServer
) -> None:
    contacts = [
        {"email": "zhang@bureau.example.cn"},
        {"email": "li@bureau.example.cn", "language": "en"},
        {"webhook_url": webhook_server.url + "/hook/generic", "webhook_kind": "generic"},
        {"webhook_url": webhook_server.url + "/robot/send?access_token=T#secret=SECabc",
         "webhook_kind": "dingtalk"},
        {"webhook_url": webhook_server.url + "/cgi-bin/webhook/send?key=K",
         "webhook_kind": "wecom"},
    ]  # fmt: skip
    world = make_round(engine, enterprises=5, inspector_contacts=contacts)
    result = _enqueue(engine, world.round_key)
    assert result.queued == result.messages == 10 and result.unreachable == []

    report = dispatch(engine=engine, notify=_notify(), smtp=SmtpSettings(port=smtp_sink.port))
    assert (report.sent, report.dead, report.retried) == (10, 0, 0)
    assert _counts(engine) == {
        "pending": 0,
        "sent": 10,
        "failed": 0,
        "dead": 0,
    }

    rows = {(r.recipient, r.payload["credit_code"]): r for r in _rows(engine)}
    mails = smtp_sink.handler.received
    assert len(mails) == 4  # inspectors 0 and 1 have two enterprises each
    for mail in mails:
        (to,) = mail.rcpts
        iid = "INSP0000" if to.startswith("zhang") else "INSP0001"
        code = re.search(r"统一社会信用代码：(\w+)|credit code: (\w+)", mail.message.get_content())
        assert code
        credit = code.group(1) or code.group(2)
        row = rows[(iid, credit)]
        assert mail.message["To"] == to and mail.message["Subject"] == row.subject
        assert mail.message["Message-ID"] == f"<{row.idempotency_key}@shuangsui>"
        token = assignment_token("dev-secret", world.round_key, credit, iid)
        assert f"/w/open/{world.round_key}/{credit}?token={token}" in mail.message.get_content()
        if iid == "INSP0001":
            assert mail.message["Subject"].startswith("[Inspection assignment]")
        else:
            assert mail.message["Subject"].startswith("【检查任务通知】")

    by_path: dict[str, list] = {}
    for hit in webhook_server.hits:
        by_path.setdefault(hit.path, []).append(hit)
    assert {k: len(v) for k, v in by_path.items()} == {
        "/hook/generic": 2, "/robot/send": 2, "/cgi-bin/webhook/send": 2}  # fmt: skip
    for hit in by_path["/hook/generic"]:
        ts, sig = hit.headers["x-shuangsui-timestamp"], hit.headers["x-shuangsui-signature"]
        assert verify_generic(SECRET, ts, hit.body, sig)
        doc = hit.json()
        assert hit.headers["idempotency-key"] == doc["id"]
        assert rows[("INSP0002", doc["payload"]["credit_code"])].idempotency_key == doc["id"]
        assert "检查任务通知" in doc["subject"]
    for hit in by_path["/robot/send"]:
        from notifications.wire import dingtalk_sign

        assert hit.query["access_token"] == "T"
        assert hit.query["sign"] == dingtalk_sign("SECabc", hit.query["timestamp"])
        assert (
            hit.json()["msgtype"] == "markdown"
            and "检查任务通知" in hit.json()["markdown"]["title"]
        )
    for hit in by_path["/cgi-bin/webhook/send"]:
        assert hit.query == {"key": "K"} and hit.json()["msgtype"] == "markdown"
        assert "检查任务通知" in hit.json()["markdown"]["content"]


def test_a_message_to_x_says_nothing_about_others(engine: Engine) -> None:
    contacts = [{"email": f"i{i}@b.example.cn", "webhook_url": f"https://hook.example/{i}"}
                for i in range(4)]  # fmt: skip
    world = make_round(engine, enterprises=6, inspector_contacts=contacts)
    _enqueue(engine, world.round_key)
    with Session(engine) as s:
        assigned = {}
        from rounds.models import Assignment

        for a in s.exec(select(Assignment)).all():
            assigned.setdefault(a.inspector_id, set()).add(a.credit_code)
    for row in _rows(engine):
        text = row.subject + row.body + json.dumps(row.payload, ensure_ascii=False)
        me = int(row.recipient[-1])
        for i in range(4):
            if i != me:
                assert f"i{i}@b.example.cn" not in text and f"hook.example/{i}" not in text
        for code in set(world.enterprises) - assigned[row.recipient]:
            assert code not in text
        assert row.payload["credit_code"] in assigned[row.recipient]


def test_smtp_down_then_up_delivers_everything_once(engine: Engine) -> None:
    world = make_round(engine, enterprises=4)
    _enqueue(engine, world.round_key)
    sink = SmtpSink()  # not started: connection refused
    smtp = SmtpSettings(port=sink.port, timeout=2)
    now = datetime.now(UTC)
    first = dispatch(engine=engine, notify=_notify(), smtp=smtp, now=now)
    # the server is down: nothing spends an attempt; the coordinator's notice (no address
    # configured: the file outbox) is the one message that goes
    assert (first.sent, first.retried, first.deferred, first.dead) == (1, 0, 8, 0)
    rows = [r for r in _rows(engine) if r.round_key == world.round_key]
    assert all(r.status == "pending" and r.attempts == 0 and r.last_error for r in rows)
    assert dispatch(engine=engine, notify=_notify(), smtp=smtp, now=now).claimed == 0  # paused
    sink.start()
    try:
        later = now + timedelta(minutes=5)
        second = dispatch(engine=engine, notify=_notify(), smtp=smtp, now=later)
    finally:
        sink.stop()
    assert (second.sent, second.dead) == (8, 0)
    ids = [str(m.message["Message-ID"]) for m in sink.handler.received]
    assert len(ids) == len(set(ids)) == 8
    assert _counts(engine)["sent"] == 9


def test_a_permanent_rejection_is_dead_with_its_reason_and_retry_requeues(
    engine: Engine, smtp_sink: SmtpSink
) -> None:
    world = make_round(engine, enterprises=2)
    _enqueue(engine, world.round_key)
    smtp_sink.handler.reject.add("inspector1@bureau.example.cn")
    smtp = SmtpSettings(port=smtp_sink.port)
    report = dispatch(engine=engine, notify=_notify(), smtp=smtp)
    assert (report.sent, report.dead) == (2, 2)  # inspector1 is on both teams
    with Session(engine) as s:
        dead = dead_letters(session=s, round_key=world.round_key)
    assert {d.recipient for d in dead} == {"INSP0001"}
    assert all(
        d.last_error.startswith("SMTP 550") and "mailbox unavailable" in d.last_error for d in dead
    )

    runner = CliRunner()
    from notifications.cli import app

    out = runner.invoke(app, ["status", world.round_key])
    assert out.exit_code == 0, out.output
    assert "dead: 2" in out.output and "SMTP 550" in out.output
    out = runner.invoke(app, ["retry", world.round_key])
    assert out.exit_code == 0 and "re-queued 2" in out.output
    assert _counts(engine)["pending"] == 2

    smtp_sink.handler.reject.clear()
    again = dispatch(engine=engine, notify=_notify(), smtp=smtp)
    assert (again.sent, again.dead) == (2, 0)
    assert len(smtp_sink.handler.received) == 4


def test_transient_then_permanent_http_answers(
    engine: Engine, webhook_server: WebhookServer
) -> None:
    contacts = [{"webhook_url": webhook_server.url + f"/h{i}"} for i in range(4)]
    world = make_round(engine, enterprises=4, team_size=1, inspector_contacts=contacts)
    _enqueue(engine, world.round_key)
    answers = {"/h0": 500, "/h1": 429, "/h2": 404, "/h3": 200}
    webhook_server.respond = lambda hit: (answers[hit.path], b"{}")
    report = dispatch(engine=engine, notify=_notify(), smtp=SmtpSettings())
    assert (report.sent, report.retried, report.dead) == (1, 2, 1)
    by = {r.recipient: r for r in _rows(engine)}
    assert by["INSP0002"].status == "dead" and "HTTP 404" in (by["INSP0002"].last_error or "")
    assert by["INSP0000"].status == "failed" and "HTTP 500" in (by["INSP0000"].last_error or "")
    # attempts run out: dead with the last reason
    notify = _notify(max_attempts=2)
    later = datetime.now(UTC) + timedelta(days=1)
    final = dispatch(engine=engine, notify=notify, smtp=SmtpSettings(), now=later)
    assert final.dead == 2
    assert "gave up after 2 attempts: HTTP 429" in (_rows(engine)[1].last_error or "")


def test_no_usable_address_is_unreachable_and_dead(engine: Engine, smtp_sink: SmtpSink) -> None:
    contacts = [{"email": "a@b.example.cn"}, {"email": "not-an-email"}, {}]
    world = make_round(engine, enterprises=3, team_size=1, inspector_contacts=contacts)
    with Session(engine) as s:
        assert unreachable_recipients(session=s, inspector_ids=world.inspectors + ["GHOST"]) == [
            "GHOST", "INSP0001", "INSP0002"]  # fmt: skip
    result = _enqueue(engine, world.round_key)
    assert result.unreachable == ["INSP0001", "INSP0002"]
    report = dispatch(engine=engine, notify=_notify(), smtp=SmtpSettings(port=smtp_sink.port))
    assert (report.sent, report.dead) == (1, 2)
    with Session(engine) as s:
        assert all("no usable address" in d.last_error for d in dead_letters(session=s))


def test_enqueue_joins_the_callers_transaction_and_is_idempotent(engine: Engine) -> None:
    world = make_round(engine, enterprises=2)
    with Session(engine) as session:
        enqueue_round_assignments(session=session, round_key=world.round_key, today=TODAY)
        session.rollback()
    assert _rows(engine) == []
    first = _enqueue(engine, world.round_key)
    again = _enqueue(engine, world.round_key)
    assert first.queued == 4 and again.queued == 0 and len(_rows(engine)) == 4


def test_file_outbox_in_development(engine: Engine, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "development")
    from shuangsui.config import get_settings

    get_settings.cache_clear()
    contacts = [{"email": "a@b.example.cn"}, {"webhook_url": "https://h.example/x"}]
    world = make_round(engine, enterprises=1, inspector_contacts=contacts)
    with session_scope(engine) as session:
        enqueue_round_assignments(session=session, round_key=world.round_key, today=TODAY,
                                  enterprise_notice=True)  # fmt: skip
    report = dispatch(engine=engine)
    assert report.sent == 4  # two inspectors, the notice (a letter), the summary
    outbox = get_settings().home / "outbox"
    names = sorted(p.suffix for p in outbox.iterdir())
    assert names == [".eml", ".eml", ".eml", ".json"]
    letters = [p.read_text() for p in outbox.glob("*.eml")]
    assert any("检查告知书" in t or "=?utf-8?" in t for t in letters)


def test_the_after_draw_hook_queues_in_the_draws_session(engine: Engine) -> None:
    from types import SimpleNamespace

    from notifications.hooks import after_draw

    world = make_round(engine, enterprises=2, inspector_contacts=[{"email": "a@b.example.cn"}, {}])
    with Session(engine) as session:
        result = after_draw(session, SimpleNamespace(round_key=world.round_key), None)
        assert result.unreachable == ["INSP0001"]
        session.commit()
    assert len(_rows(engine)) == 5  # 4 assignments and the summary
