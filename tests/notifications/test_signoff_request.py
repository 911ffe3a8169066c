"""待您签字确认: a version one member submits asks each teammate who has not signed it to read
and sign it, through their own link, in the transaction that records the version."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api.app import create_app
from findings import service
from findings.categories import RESULT_LABELS, ResultCategory
from notifications.dispatch import dispatch
from notifications.hooks import after_version
from notifications.links import verify_assignment_token
from notifications.models import Notification, NotificationKind
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.findings.factories import ROUND, drawn_round, final_finding, finding
from tests.findings.live import serve
from tests.workspace.helpers import csrf_of, sign_in

KIND = NotificationKind.signoff_request.value


def _requests(engine: sa.Engine) -> list[Notification]:
    with Session(engine) as s:
        rows = s.execute(
            sa.select(Notification).where(Notification.kind == NotificationKind.signoff_request)
        ).scalars()
        return sorted(rows, key=lambda n: (n.recipient, n.id))


def _names(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT inspector_id, name FROM inspector")).all())


def _a_team(engine: sa.Engine) -> tuple[str, list[str]]:
    """The round's first enterprise with its team (two or more members), lead first."""
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    assert len(team) >= 2
    return code, team


def test_a_submission_asks_each_teammate_who_has_not_signed(engine: sa.Engine) -> None:
    code, team = _a_team(engine)
    lead, others = team[0], team[1:]
    names = _names(engine)
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding("no_activity"),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    asked = _requests(engine)
    assert [n.recipient for n in asked] == sorted(others)  # never the submitter, who signed
    secret = get_settings().secret_key.get_secret_value()
    for n in asked:
        assert n.subject.startswith("【待您签字确认】")
        label = RESULT_LABELS[ResultCategory.no_activity]
        assert f"{names[lead]} 已提交" in n.body and label in n.body and "2026-12-10" in n.body
        assert n.payload["credit_code"] == code and n.payload["version"] == 1
        link = n.payload["link"]
        assert link in n.body and f"/w/open/{ROUND}/{code}?token=" in link
        token = parse_qs(urlsplit(link).query)["token"][0]
        # the link is the recipient's own: it opens their assignment, no one else's
        assert verify_assignment_token(secret, ROUND, code, n.recipient, token)
        assert not verify_assignment_token(secret, ROUND, code, lead, token)


def test_a_retry_asks_no_one_again_a_signature_withdraws_its_request_and_a_correction_asks_anew(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    code, team = _a_team(engine)
    lead, member = team[0], team[1]
    submit = dict(round_key=ROUND, credit_code=code, submitted_by=f"inspector:{lead}",
                  signers=[lead])  # fmt: skip
    service.submit(engine, data=finding(), **submit)  # type: ignore[arg-type]
    first = _requests(engine)
    service.submit(engine, data=finding(), **submit)  # type: ignore[arg-type]  # a retry
    assert [n.id for n in _requests(engine)] == [n.id for n in first]
    # the member signs before the request went out: it is withdrawn, never sent
    service.sign_off(engine, round_key=ROUND, credit_code=code, version=1, inspector_id=member)
    assert member not in [n.recipient for n in _requests(engine)]
    # the member corrects it: the lead, who signed version 1, is asked to sign version 2
    service.submit(engine, round_key=ROUND, credit_code=code,
                   data=finding("other", reason="现场复核，证书已暂停"),
                   submitted_by=f"inspector:{member}", signers=[member])  # fmt: skip
    second = [n for n in _requests(engine) if n.payload["version"] == 2]
    assert [n.recipient for n in second] == sorted(set(team) - {member})
    assert "第 2 版，更正" in second[0].body and "现场复核，证书已暂停" in second[0].body
    assert dispatch(engine=engine).sent >= len(second)
    # the lead corrects it again: version 2's requests went out and stay as they were
    service.submit(engine, round_key=ROUND, credit_code=code,
                   data=finding("other", reason="补充说明", description="证书已暂停使用"),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    by_version = {(n.payload["version"], n.recipient): n.status.value for n in _requests(engine)}
    assert {k: v for k, v in by_version.items() if k[0] == 2} == {
        (2, m): "sent" for m in sorted(set(team) - {member})
    }
    assert {m for v, m in by_version if v == 3} == set(team) - {lead}


def test_a_version_the_whole_team_signed_asks_no_one(engine: sa.Engine) -> None:
    """Signed by every member as it is added (the findings import names them all), or
    signed by the rest afterwards (no request asks after a signature already given)."""
    teams = sorted(drawn_round(engine).items())
    (code, team), (other, other_team) = teams[0], teams[1]
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by="coordinator:王五", signers=team)  # fmt: skip
    assert _requests(engine) == []
    final_finding(engine, other, other_team)  # the lead submits, the rest sign at once
    assert _requests(engine) == []  # each request withdrawn by its signature, never sent


def test_a_coordinator_s_version_asks_every_member_naming_the_coordinator(
    engine: sa.Engine,
) -> None:
    code, team = _a_team(engine)
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by="coordinator:王五")  # fmt: skip
    asked = _requests(engine)
    assert [n.recipient for n in asked] == sorted(team)
    assert all("协调员 王五 已提交" in n.body for n in asked)


def test_a_refused_version_leaves_no_request(engine: sa.Engine) -> None:
    """The request is written in the version's transaction: a version refused (a check date
    after today) writes neither."""
    code, team = _a_team(engine)
    with pytest.raises(UserError):
        service.submit(engine, round_key=ROUND, credit_code=code,
                       data=finding(check_date="2027-01-05"),
                       submitted_by=f"inspector:{team[0]}", signers=[team[0]])  # fmt: skip
    assert _requests(engine) == []


def test_an_english_speaking_member_reads_it_in_english(engine: sa.Engine) -> None:
    code, team = _a_team(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE inspector SET language = 'en' WHERE inspector_id = :i"),
                     {"i": team[1]})  # fmt: skip
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by="coordinator:Wang", signers=[team[0]])  # fmt: skip
    english = next(n for n in _requests(engine) if n.recipient == team[1])
    assert english.subject.startswith("[Signature needed]")
    assert "coordinator Wang submitted" in english.body and "no_problem" in english.body


def test_the_hook_is_installed_with_the_others() -> None:
    from shuangsui import wiring

    wiring.install()
    assert after_version in service.after_version_hooks


def _message_text(path: Path) -> str:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    parts = [str(p.get_content()) for p in msg.walk() if p.get_content_maintype() == "text"]
    return "\n".join([str(msg["Subject"]), *parts])


def test_the_teammate_signs_from_the_request_s_link(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the lead submits on the workspace, the request is delivered (the file
    outbox), the teammate opens its link on a real server and signs: the finding is final."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    code, team = _a_team(engine)
    lead, member = team[0], team[1]
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    assert dispatch(engine=engine).sent >= 1
    request = next(n for n in _requests(engine) if n.recipient == member)
    assert request.status.value == "sent"
    outbox = Path(get_settings().home) / "outbox"
    (path,) = [p for p in outbox.rglob(f"{request.idempotency_key}.*")]
    text = _message_text(path) if path.suffix == ".eml" else path.read_text("utf-8")
    found = re.search(r"https?://\S+/w/open/\S+", text)
    assert found and "待您签字确认" in text
    with serve(create_app(engine=engine)) as base, httpx.Client() as http:
        link = base + found.group(0)[found.group(0).index("/w/open/") :]
        opened = sign_in(http, link)  # the link's page, then its button
        assert opened.status_code == 303
        page = http.get(base + opened.headers["location"])
        assert page.status_code == 200 and "签字确认第 1 版" in page.text
        path_of = urlsplit(str(page.url)).path
        signed = http.post(base + path_of + "/sign",
                           data={"csrf": csrf_of(page.text), "version": "1"})  # fmt: skip
        assert signed.status_code == 303
        assert "已完成" in http.get(base + path_of).text
    state = service.history(engine, ROUND, code).states[-1]
    assert state.final


def _reminders(engine: sa.Engine) -> dict[str, list[Notification]]:
    with Session(engine) as s:
        rows = s.execute(
            sa.select(Notification).where(Notification.kind == NotificationKind.reminder)
        ).scalars()
        out: dict[str, list[Notification]] = {}
        for n in rows:
            out.setdefault(n.payload["credit_code"], []).append(n)
        return out


def test_a_reminder_asks_for_the_missing_signature_and_spares_who_signed(
    engine: sa.Engine,
) -> None:
    """Near the deadline: a check submitted and waiting is reminded to whoever has yet to
    sign, asking for the signature; one done (final) reminds no one; one not started, all."""
    import datetime as dt

    from notifications.outbox import enqueue_reminders
    from rounds.closing import findings_in

    (done, done_team), (waiting, team), (todo, todo_team), *_ = sorted(drawn_round(engine).items())
    final_finding(engine, done, done_team)
    service.submit(engine, round_key=ROUND, credit_code=waiting, data=finding(),
                   submitted_by=f"inspector:{team[0]}", signers=[team[0]])  # fmt: skip
    state = findings_in(engine)
    assert done in {code for _, code in state.done}
    assert state.signed[(ROUND, waiting)] == (team[0],)
    with Session(engine) as session:
        enqueue_reminders(session=session, today=dt.date(2026, 12, 28), done=state.done,
                          signed=state.signed)  # fmt: skip
        session.commit()
    reminders = _reminders(engine)
    assert done not in reminders
    assert sorted(n.recipient for n in reminders[waiting]) == sorted(team[1:])
    assert all(n.subject.endswith("待您签字确认") for n in reminders[waiting])
    assert all("尚待您签字确认" in n.body for n in reminders[waiting])
    assert sorted(n.recipient for n in reminders[todo]) == sorted(todo_team)
    assert all("请通过您的专属链接录入检查结果" in n.body for n in reminders[todo])


def test_the_remind_command_spares_checks_that_are_done(engine: sa.Engine) -> None:
    """``shuangsui notifications remind`` reminded every inspector of a round and escalated
    every late check, done or not: it now reads where each check stands, as the daily flow."""
    from typer.testing import CliRunner

    from shuangsui.cli import _register_groups, app

    (done, done_team), (todo, todo_team), *_ = sorted(drawn_round(engine).items())
    final_finding(engine, done, done_team)
    _register_groups()
    out = CliRunner().invoke(app, ["notifications", "remind", "--within", "60"])
    assert out.exit_code == 0, out.output
    reminders = _reminders(engine)
    assert done not in reminders
    assert sorted(n.recipient for n in reminders[todo]) == sorted(todo_team)


def test_a_reason_is_quoted_on_one_line_and_cannot_pass_for_the_message_s_own(
    engine: sa.Engine,
) -> None:
    """A correction's reason is the teammate's own words: written on lines of their own they
    put a link of theirs above the recipient's, in a message the bureau sent."""
    code, team = _a_team(engine)
    lead, member = team[0], team[1]
    forged = "笔误\r\n\r\n请改用以下链接签字确认：\nhttp://evil.example/w/open\n录入令牌：0000"
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    service.submit(engine, round_key=ROUND, credit_code=code,
                   data=finding("other", reason=forged + "长" * 900),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    (asked,) = [n for n in _requests(engine) if n.payload["version"] == 2]
    assert asked.recipient == member
    lines = asked.body.splitlines()
    (said,) = [line for line in lines if "更正原因" in line]
    assert said.startswith("- 更正原因：「笔误 请改用以下链接签字确认： http://evil.example/w/open")
    assert said.endswith("…」") and len(said) < 250
    assert not any(line.startswith(("http://evil", "录入令牌：0000")) for line in lines)
    # the recipient's own link is the only one on a line of its own
    links = [line for line in lines if line.startswith("http")]
    assert links == [asked.payload["link"]]


def test_names_are_written_on_one_line_and_cannot_pass_for_the_message_s_own(
    engine: sa.Engine,
) -> None:
    """The registry takes line breaks in a text (an inspector's or an enterprise's name, as
    ``registry import`` reads them): in a message, each name is one line, so that a name
    cannot put a link of its own above the recipient's."""
    code, team = _a_team(engine)
    lead, member = team[0], team[1]
    forged = "\r\n\r\n请改用以下链接签字确认：\nhttp://evil.example/w/open\n录入令牌：0000\n"
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE inspector SET name = name || :f, unit = unit || :f"),
                     {"f": forged})  # fmt: skip
        conn.execute(sa.text("UPDATE enterprise SET name = name || :f, address = address || :f"),
                     {"f": forged})  # fmt: skip
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    (asked,) = _requests(engine)
    assert asked.recipient == member
    lines = asked.body.splitlines()
    assert not any(line.startswith(("http://evil", "录入令牌：0000")) for line in lines)
    assert [line for line in lines if line.startswith("http")] == [asked.payload["link"]]
    assert "请改用以下链接签字确认： http://evil.example/w/open" in asked.subject
