"""``shuangsui notifications relink --end-old`` for a member whose link no message has carried
out yet: their 检查任务通知 still waiting in the outbox, never tried. Nobody but the member can
come to hold that link, and a link made in its place would go by the same message to the same
address, so ending it protects nothing; it only moved the generation and recorded a loss that
did not happen (docs/workspace.md, "A link never sent"). Now it is not ended, and the command
says so. A notice that was tried and failed may have left (the mail server may have taken it
before the answer was lost; a wrong address's server may take it and bounce it later), so the
link it holds is ended, whichever generation it is. The command is run as a user types it, a
real process, on SQLite and PostgreSQL; the failure is a real SMTP server's answer (451)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.app import create_app
from notifications.dispatch import dispatch
from notifications.generations import LinkGeneration
from notifications.models import Notification, NotificationKind, NotificationStatus
from notifications.settings import NotifySettings, SmtpSettings
from registry.models import Inspector
from rounds.models import AuditEvent
from shuangsui.config import get_settings
from tests.deploy.procs import shuangsui
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import serve
from tests.notifications.servers import SmtpSink
from tests.workspace.helpers import sign_in

BY, REASON = "李协调", "通知发错了邮箱"
REPLACED_ZH = "此链接已被作废并更换"


def _end(member: str, code: str) -> str:
    """The command as a coordinator types it, in a process of its own; what it printed."""
    home = Path(get_settings().home)
    env = {"SHUANGSUI_DATABASE_URL": get_settings().resolved_database_url,
           "SHUANGSUI_HOME": str(home), "SHUANGSUI_ENVIRONMENT": "test"}  # fmt: skip
    run = shuangsui(home.parent, "notifications", "relink", "--round", ROUND, "--by", BY,
                    "--reason", REASON, "--inspector", member, "--credit-code", code,
                    "--end-old", **env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout


def _generations(engine: sa.Engine) -> list[int]:
    with Session(engine) as s:
        return sorted(r.generation for r in s.exec(select(LinkGeneration)).all())


def _events(engine: sa.Engine, event: str) -> int:
    with Session(engine) as s:
        return len(s.exec(select(AuditEvent).where(AuditEvent.event == event)).all())


def _messages(engine: sa.Engine, member: str, code: str) -> list[Notification]:
    """The member's messages holding their link to ``code``, oldest first."""
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(Notification.recipient == member)
                      .order_by(Notification.id)).all()  # fmt: skip
    return [m for m in rows if m.payload.get("credit_code") == code and m.payload.get("link")]


def _text(message: EmailMessage) -> str:
    return "".join(
        str(p.get_content()) for p in message.walk() if p.get_content_maintype() == "text"
    )


def _path(link: str) -> str:
    return link[link.index("/w/open/") :]


def test_a_link_no_message_carried_out_is_not_ended(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The round drawn, its notices queued and not yet dispatched: the ending ends nothing,
    says why, and is audited with its cause as a relink; the member is sent the same link
    (their 检查链接重新发送 says none reached them), which opens once delivered. Sent, the same
    command ends it. Before, the link was ended (generation 1, LinkEnded) and the waiting
    notice written again with the new link, though no one could have held the old one."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    (code, team), *_ = sorted(drawn_round(engine).items())
    member = team[0]
    (notice,) = _messages(engine, member, code)
    assert notice.status == NotificationStatus.pending and notice.attempts == 0
    said = _end(member, code)
    assert f"the link of {member} to {code} was not ended" in said, said
    assert "no message has carried it out yet" in said and "is ended" not in said
    assert _generations(engine) == [] and _events(engine, "LinkEnded") == 0
    assert _events(engine, "LinksReissued") == 1
    waiting, reissued = _messages(engine, member, code)
    assert waiting.payload["link"] == notice.payload["link"]  # not written again
    assert reissued.kind == NotificationKind.link_reissued
    assert reissued.payload["link"] == notice.payload["link"]  # the same link, generation 0
    assert reissued.payload["earlier"] == "none"  # not "ended": it still opens
    assert dispatch(engine=engine).sent >= 2
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as inspector:
        assert sign_in(inspector, _path(notice.payload["link"])).status_code == 303
    said = _end(member, code)  # it has left now: the member may have lost it
    assert f"the earlier link of {member} to {code} is ended" in said, said
    assert _generations(engine) == [1] and _events(engine, "LinkEnded") == 1


def test_a_link_whose_notice_was_tried_and_failed_is_ended(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member's notice tried and refused for now by the mail server (451: it waits for a
    retry): it may have left, so the ending ends the link, and the notice waiting is written
    again with the new one. The new link's messages tried and refused too: the same command
    ends that link as well. Before, the first ending ended generation 0 all the same, but a
    failed message was counted as not sent: the second said "has not been sent yet" and ended
    nothing, though the 检查链接重新发送 had been handed to the mail server."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    (code, team), *_ = sorted(drawn_round(engine).items())
    member = team[0]
    with Session(engine) as s:
        address = s.get(Inspector, member).email  # type: ignore[union-attr]
    sink = SmtpSink().start()
    sink.handler.defer.add(address)
    notify = NotifySettings(channel="live", backoff_base_seconds=3600)  # type: ignore[call-arg]
    smtp = SmtpSettings(port=sink.port)  # type: ignore[call-arg]
    try:
        dispatch(engine=engine, notify=notify, smtp=smtp)
        (notice,) = _messages(engine, member, code)
        assert notice.status == NotificationStatus.failed and notice.attempts == 1
        said = _end(member, code)
        assert f"the earlier link of {member} to {code} is ended" in said, said
        assert _generations(engine) == [1]
        notice_now, reissued = _messages(engine, member, code)
        assert notice_now.payload["link"] == reissued.payload["link"] != notice.payload["link"]
        later = datetime.now(UTC) + timedelta(hours=2)  # the notice's retry due too
        dispatch(engine=engine, notify=notify, smtp=smtp, now=later)
        assert all(m.attempts >= 1 for m in _messages(engine, member, code))
        said = _end(member, code)
        assert f"the earlier link of {member} to {code} is ended" in said, said
        assert "generation 2 now" in said
        assert _generations(engine) == [1, 2] and _events(engine, "LinkEnded") == 2
    finally:
        sink.stop()


def test_a_waiting_notice_goes_to_the_address_corrected_since(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member's notice queued to a wrong address, not yet tried; the registry's address
    corrected, then the link sent again (the ending asked for ends nothing: the notice has not
    left). The notice waiting goes to the corrected address with the 检查链接重新发送, and
    nothing reaches the wrong one: the member's notices of other checks, which the relink of
    this one does not touch, follow the registry's address when a dispatcher claims them
    (``notifications.follow``, audited). Before, the waiting notice kept the address it was
    queued with, and took the member's live link there when dispatched; and, until the claim
    followed them, the notices of the other checks went there."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    teams = drawn_round(engine)
    (code, team), *_ = sorted(teams.items())
    member = team[0]
    checks = sum(member in others for others in teams.values())
    with Session(engine) as s:  # the registry corrected (an import would write the same)
        person = s.get(Inspector, member)
        assert person is not None
        wrong, person.email = person.email, "zhang.corrected@bureau.example.cn"
        s.add(person)
        s.commit()
    (notice,) = _messages(engine, member, code)
    assert notice.address == wrong
    assert "was not ended" in _end(member, code)
    assert [m.address for m in _messages(engine, member, code)] == [
        "zhang.corrected@bureau.example.cn"
    ] * 2
    sink = SmtpSink().start()
    try:
        notify = NotifySettings(channel="live")  # type: ignore[call-arg]
        dispatch(engine=engine, notify=notify, smtp=SmtpSettings(port=sink.port))  # type: ignore[call-arg]
        to = [(mail.rcpts, _text(mail.message)) for mail in sink.handler.received]
    finally:
        sink.stop()
    assert [wrong] not in [rcpts for rcpts, _ in to]
    fixed = [text for rcpts, text in to if rcpts == ["zhang.corrected@bureau.example.cn"]]
    assert checks > 1 and len(fixed) == checks + 1  # each notice, and the 检查链接重新发送
    assert sum(code in text for text in fixed) == 2
