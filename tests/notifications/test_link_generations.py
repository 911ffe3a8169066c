"""One member's link to one check ended and a new one sent, the key unchanged (``shuangsui
notifications relink --end-old``; notifications/generations.py). Before, a lost or forwarded
link could be ended only by revoking the inspector in the round (locking them out as well:
relink leaves a revoked member out) or by rotating the key (every inspector's link in the
bureau)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from findings.history import history
from notifications.dispatch import dispatch
from notifications.generations import LinkGeneration
from notifications.links import assignment_token
from notifications.models import Notification, NotificationKind
from rounds.models import AuditEvent
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import LINK, _text, csrf_of, delivered_round, outbox_link, sign_in

BY, REASON = "李协调", "手机遗失"
FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场核查，未见问题"}
REPLACED_ZH = "此链接已被作废并更换"


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _end(cli: CliRunner, member: str, code: str, reason: str = REASON) -> str:
    done = cli.invoke(app, ["notifications", "relink", "--round", ROUND, "--by", BY,
                            "--reason", reason, "--inspector", member, "--credit-code", code,
                            "--end-old"])  # fmt: skip
    assert done.exit_code == 0, (done.output, done.exception)
    return done.output


def _fields(*fields: str) -> bytes:
    return b"".join(len(f.encode()).to_bytes(8, "big") + f.encode() for f in fields)


def test_generation_zero_is_today_s_token_and_a_generation_never_collides_with_it() -> None:
    """Computed here as the token was computed before generations: every link sent opens."""
    secret, code, member = "k" * 40, "91110000000000001X", "INS-1"
    today = hmac.new(secret.encode(), _fields("shuangsui-assignment-v1", ROUND, code, member),
                     hashlib.sha256).hexdigest()  # fmt: skip
    assert assignment_token(secret, ROUND, code, member) == today
    assert assignment_token(secret, ROUND, code, member, 0) == today
    fields = _fields("shuangsui-assignment-v1", ROUND, code, member, "generation", "1")
    first = hmac.new(secret.encode(), fields, hashlib.sha256).hexdigest()
    assert assignment_token(secret, ROUND, code, member, 1) == first
    made = {assignment_token(secret, ROUND, code, member, n) for n in range(50)}
    assert len(made) == 50


def test_ending_one_link_refuses_it_everywhere_and_the_new_one_takes_a_finding(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    drawn = sorted(delivered_round(engine, monkeypatch).items())
    (code, team), (other_code, other_team), *_ = drawn
    member, mate = team[0], team[1]
    old = outbox_link(code, member, "")
    token = parse_qs(urlsplit(old).query)["token"][0]
    with serve(create_app(engine=engine)) as base:
        with httpx.Client(base_url=base) as holder:  # whoever has the forwarded link
            assert sign_in(holder, old).status_code == 303
            page = f"/w/a/{ROUND}/{code}"
            assert holder.get(page).status_code == 200
            said = _end(cli, member, code)
            assert f"the earlier link of {member} to {code} is ended" in said
            api = holder.get(f"/findings/{ROUND}/{code}",
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert api.status_code == 403, api.text
            problem = api.json()
            assert "this link was replaced" in problem["detail"]
            assert "a new link was sent to the inspector" in problem["detail"]
            assert member not in api.text
            opened = holder.get(old)  # the link's page
            assert opened.status_code == 403 and REPLACED_ZH in opened.text
            assert member not in opened.text
            session_page = holder.get(page)  # the session it opened: ended too
            assert session_page.status_code == 403 and REPLACED_ZH in session_page.text
            posted = holder.post(page, data={"csrf": "x", **FORM, "action": "submit"})
            assert posted.status_code in (401, 403)
        with httpx.Client(base_url=base) as others:  # every other link untouched
            assert sign_in(others, outbox_link(code, mate, "")).status_code == 303
        with httpx.Client(base_url=base) as others:
            assert sign_in(others, outbox_link(other_code, other_team[0], "")).status_code == 303
        assert dispatch(engine=engine).sent >= 1
        with Session(engine) as s:
            (msg,) = s.exec(select(Notification).where(
                Notification.kind == NotificationKind.link_reissued)).all()  # fmt: skip
        assert (msg.recipient, msg.payload["credit_code"]) == (member, code)
        assert msg.payload["earlier"] == "ended"
        outbox = Path(get_settings().home) / "outbox"
        (path,) = outbox.rglob(f"{msg.idempotency_key}.*")
        text = _text(path)
        assert "协调员已作废此前发给您的" in text or "has ended the personal link" in text
        assert "仍然有效" not in text and "still opens" not in text
        (link,) = LINK.findall(text)
        assert parse_qs(urlsplit(link).query)["token"][0] != token
        with httpx.Client(base_url=base) as inspector:
            opened_new = sign_in(inspector, link[link.index("/w/open/") :])
            assert opened_new.status_code == 303, opened_new.text
            new_page = inspector.get(opened_new.headers["location"])
            assert new_page.status_code == 200
            path_ = urlsplit(str(new_page.url)).path
            done = inspector.post(path_, data={"csrf": csrf_of(new_page.text), **FORM,
                                               "action": "submit"})  # fmt: skip
            assert done.status_code == 303, done.text
    (version,) = history(engine, ROUND, code).versions
    assert version.submitted_by == f"inspector:{member}"
    with Session(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.event == "LinkEnded")).all()
    assert len(events) == 1
    assert f'"inspector_id":"{member}"' in events[0].payload and REASON in events[0].payload


def test_run_again_for_the_same_reason_it_ends_nothing_more(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    _end(cli, team[0], code)
    again = _end(cli, team[0], code)
    assert f"already ended by {BY} at " in again and f"({REASON})" in again
    with Session(engine) as s:
        rows = s.exec(select(LinkGeneration)).all()
        reissued = s.exec(select(Notification).where(
            Notification.kind == NotificationKind.link_reissued)).all()  # fmt: skip
    assert [(r.inspector_id, r.generation) for r in rows] == [(team[0], 1)]
    assert len(reissued) == 1
    # another reason while the new link has not left: nobody can hold it, nothing more ended
    other = _end(cli, team[0], code, reason="通知被转发给企业")
    assert "nothing more ended" in other and f"({REASON})" in other
    with Session(engine) as s:
        assert len(s.exec(select(LinkGeneration)).all()) == 1
    # one message (the second reason's took the first's place): the new link has left, and
    # now it is ended too
    assert dispatch(engine=engine).sent == 1
    assert "is ended" in _end(cli, team[0], code, reason="通知被转发给企业")
    with Session(engine) as s:
        assert len(s.exec(select(LinkGeneration)).all()) == 2


def test_end_old_is_only_for_one_member_of_one_check(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    for extra in (["--inspector", team[0]], ["--credit-code", code], []):
        done = cli.invoke(app, ["notifications", "relink", "--round", ROUND, "--by", BY,
                                "--reason", REASON, "--end-old", *extra])  # fmt: skip
        assert isinstance(done.exception, UserError), done.output
        assert str(done.exception).startswith("--end-old: only with")
    with Session(engine) as s:
        assert s.exec(select(LinkGeneration)).all() == []


def test_a_message_queued_after_the_end_carries_the_new_link(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """A request to sign (a teammate submits) queued after the member's link was ended holds
    the member's link that opens, not the ended one."""
    from findings import service
    from notifications.links import verify_assignment_token
    from tests.findings.factories import finding

    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    member, mate = team[1], team[0]
    _end(cli, member, code)
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding("no_activity"),
                   submitted_by=f"inspector:{mate}", signers=[mate])  # fmt: skip
    with Session(engine) as s:
        (asked,) = s.exec(select(Notification).where(
            Notification.kind == NotificationKind.signoff_request,
            Notification.recipient == member)).all()  # fmt: skip
    secret = get_settings().secret_key.get_secret_value()
    token = parse_qs(urlsplit(asked.payload["link"]).query)["token"][0]
    assert verify_assignment_token(secret, ROUND, code, member, token, generation=1)
    assert f"token={token}" in asked.body


def test_a_notice_written_again_after_the_end_carries_the_new_link(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """The member's notice not sent yet (tried, and refused for now by the mail server: it
    may have left, so its link is ended; one never tried is not, test_relink_never_sent),
    written again when the check is given a new date after the end
    (``hooks.rewrite_unsent``), holds the link that opens."""
    import datetime as dt

    from notifications.links import verify_assignment_token
    from notifications.settings import NotifySettings, SmtpSettings
    from registry.models import Inspector
    from rounds.redates import move_due_date
    from rounds.replacements import bureau_today
    from tests.findings.factories import drawn_round
    from tests.notifications.servers import SmtpSink

    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    (code, team), *_ = sorted(drawn_round(engine).items())  # notices not sent yet
    member = team[0]
    sink = SmtpSink().start()
    try:
        with Session(engine) as s:
            sink.handler.defer.add(s.get(Inspector, member).email)  # type: ignore[union-attr]
        dispatch(engine=engine, notify=NotifySettings(channel="live"),  # type: ignore[call-arg]
                 smtp=SmtpSettings(port=sink.port))  # type: ignore[call-arg]  # fmt: skip
    finally:
        sink.stop()
    _end(cli, member, code)
    move_due_date(engine, ROUND, code, due_on=bureau_today() + dt.timedelta(days=20),
                  reason="企业停产", recorded_by=BY)  # fmt: skip
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(
            Notification.kind == NotificationKind.assignment,
            Notification.recipient == member)).all()  # fmt: skip
    (notice,) = [n for n in rows if n.payload["credit_code"] == code]
    secret = get_settings().secret_key.get_secret_value()
    link = notice.payload["link"]
    assert link.startswith("http") and f"/{code}?token=" in link
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert verify_assignment_token(secret, ROUND, code, member, token, generation=1)
    assert f"token={token}" in notice.body
