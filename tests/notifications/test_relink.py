"""``shuangsui notifications relink``: an open check's link given again, under the current
secret key. Before, nothing sent a link again: rotating ``SHUANGSUI_SECRET_KEY`` (a key that
leaked) locked every inspector with open work out, their notices' links refused, until a
coordinator recorded their findings by hand; and an inspector who lost their notice had no way
back to their page (``notifications retry`` re-queues dead letters only, as written)."""

from __future__ import annotations

import json
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
from notifications.links import verify_assignment_token
from notifications.models import Notification, NotificationKind, NotificationStatus
from rounds.models import AuditEvent
from rounds.replacements import replace_member
from shuangsui import config
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.deploy.procs import shuangsui
from tests.findings.factories import ROUND, final_finding, teams
from tests.findings.live import serve
from tests.workspace.helpers import (
    LINK,
    _text,
    csrf_of,
    delivered_round,
    outbox_link,
    revoke_links,
    sign_in,
)

BY, REASON = "李协调", "密钥泄露，已更换"
KEYS = ["relink-test-key-two-0123456789abcdefghij", "relink-test-key-three-0123456789abcdefgh"]
FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场核查，未见问题"}
GONE = "此前发给您的以下检查任务的专属链接"


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _relink(cli: CliRunner, *extra: str, reason: str = REASON) -> str:
    done = cli.invoke(app, ["notifications", "relink", "--round", ROUND, "--by", BY,
                            "--reason", reason, *extra])  # fmt: skip
    assert done.exit_code == 0, (done.output, done.exception)
    return done.output


def _refused(cli: CliRunner, *args: str) -> str:
    done = cli.invoke(app, ["notifications", "relink", *args])
    assert isinstance(done.exception, UserError), (done.output, done.exception)
    return str(done.exception)


def _rotate(monkeypatch: pytest.MonkeyPatch, key: str) -> str:
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", key)
    config.get_settings.cache_clear()
    return key


def _messages(engine: sa.Engine, kind: NotificationKind) -> list[Notification]:
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(Notification.kind == kind)).all()
    return sorted(rows, key=lambda n: (n.recipient, n.payload["credit_code"], n.id or 0))


def _seats(rows: list[Notification]) -> list[tuple[str, str]]:
    return sorted((n.recipient, n.payload["credit_code"]) for n in rows)


def _delivered(n: Notification) -> str:
    """The text of ``n`` as delivered to the file outbox."""
    outbox = Path(get_settings().home) / "outbox"
    (path,) = outbox.rglob(f"{n.idempotency_key}.*")
    return _text(path)


def test_after_a_rotation_each_open_seat_gets_a_link_that_opens_and_takes_a_finding(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    drawn = sorted(delivered_round(engine, monkeypatch).items())
    (done, done_team), (code, team), (moved, moved_team), *_ = drawn
    final_finding(engine, done, done_team)  # a closed check: no link
    replace_member(engine, ROUND, moved, moved_team[1], cause="conflict", note="回避",
                   recorded_by=BY)  # fmt: skip  # a member replaced: no link
    dispatch(engine=engine)  # the replacement's notice, under the old key
    old = outbox_link(code, team[0], "")
    _rotate(monkeypatch, KEYS[0])
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert http.get(old).status_code == 403  # the key rotated: the notice's link is dead
        said = _relink(cli)
        open_seats = sorted((m, c) for c, t in teams(engine).items() if c != done for m in t)
        reissued = _messages(engine, NotificationKind.link_reissued)
        assert _seats(reissued) == open_seats
        assert moved_team[1] not in {m for m, c in open_seats if c == moved}
        assert f"queued {len(open_seats)} new link(s)" in said
        assert dispatch(engine=engine).sent == len(open_seats)
        secret = get_settings().secret_key.get_secret_value()
        for n in reissued:
            text = _delivered(n)
            assert GONE in text and "已经失效" in text and "请改用新链接" in text
            assert REASON not in text  # the reason stays in the audit log
            (link,) = LINK.findall(text)
            token = parse_qs(urlsplit(link).query)["token"][0]
            assert verify_assignment_token(secret, ROUND, n.payload["credit_code"],
                                           n.recipient, token)  # fmt: skip
        mine = next(
            n for n in reissued if (n.recipient, n.payload["credit_code"]) == (team[0], code)
        )
        (link,) = LINK.findall(_delivered(mine))
        opened = sign_in(http, link[link.index("/w/open/") :])
        assert opened.status_code == 303, opened.text
        page = http.get(opened.headers["location"])
        assert page.status_code == 200, page.text
        path = urlsplit(str(page.url)).path
        posted = http.post(path, data={"csrf": csrf_of(page.text), **FORM, "action": "submit"})
        assert posted.status_code == 303, posted.text
    (version,) = history(engine, ROUND, code).versions
    assert version.submitted_by == f"inspector:{team[0]}"


def test_run_again_it_queues_nothing_and_after_another_rotation_it_queues_anew(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    drawn = delivered_round(engine, monkeypatch)
    seats = sorted((m, c) for c, t in drawn.items() for m in t)
    _rotate(monkeypatch, KEYS[0])
    _relink(cli)
    first = _messages(engine, NotificationKind.link_reissued)
    again = _relink(cli)  # a coordinator unsure it went through
    assert [n.id for n in _messages(engine, NotificationKind.link_reissued)] == [
        n.id for n in first
    ]
    assert f"queued 0 new link(s) to 0 inspector(s); {len(seats)} queued before" in again
    dispatch(engine=engine)
    _rotate(monkeypatch, KEYS[1])  # leaked again
    _relink(cli)
    rows = _messages(engine, NotificationKind.link_reissued)
    assert len(rows) == 2 * len(seats)
    secret = get_settings().secret_key.get_secret_value()
    latest = [n for n in rows if n.status == NotificationStatus.pending]
    assert _seats(latest) == seats
    for n in latest:
        token = parse_qs(urlsplit(n.payload["link"]).query)["token"][0]
        assert verify_assignment_token(secret, ROUND, n.payload["credit_code"], n.recipient, token)
        assert n.payload["earlier"] == "changed"


def test_a_notice_not_sent_yet_is_written_again_so_no_dead_link_leaves(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """Notices still waiting (one given up on: ``notifications retry`` would send it as
    written) hold the old key's link: a relink writes them again with the current one, and
    what it sends says nothing of an earlier link, none having reached the member."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    from tests.findings.factories import drawn_round

    drawn = drawn_round(engine)
    notices = _messages(engine, NotificationKind.assignment)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE notification SET status = 'dead' WHERE id = :i"),
                     {"i": notices[0].id})  # fmt: skip
    _rotate(monkeypatch, KEYS[0])
    said = _relink(cli)
    assert f"{len(notices)} waiting message(s) written again with the current link" in said
    cli.invoke(app, ["notifications", "retry"])
    dispatch(engine=engine)
    secret = get_settings().secret_key.get_secret_value()
    outbox = Path(get_settings().home) / "outbox"
    files = sorted(outbox.rglob("*.*"))
    assert len(files) > 2 * sum(len(t) for t in drawn.values())  # and the summary
    for path in files:
        text = _text(path)
        for link in LINK.findall(text):
            _, _, _, round_key, code = urlsplit(link).path.split("/")
            token = parse_qs(urlsplit(link).query)["token"][0]
            assert any(verify_assignment_token(secret, round_key, code, m, token)
                       for m in drawn[code]), link  # fmt: skip
            assert f"录入令牌：{token}" in text or f"Token: {token}" in text
    for n in _messages(engine, NotificationKind.link_reissued):
        assert n.payload["earlier"] == "none"
        assert GONE not in n.body and "仍然有效" not in n.body


def test_one_inspector_who_lost_their_notice_gets_the_same_link_which_still_opens(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    drawn = sorted(delivered_round(engine, monkeypatch).items())
    (code, team), (other, other_team), *_ = drawn
    who = team[0]
    mine = sorted(c for c, t in drawn if who in t)
    said = _relink(cli, "--inspector", who, reason="检查任务通知邮件误删")
    reissued = _messages(engine, NotificationKind.link_reissued)
    assert _seats(reissued) == [(who, c) for c in mine]
    assert f"queued {len(mine)} new link(s) to 1 inspector(s)" in said
    n = next(n for n in reissued if n.payload["credit_code"] == code)
    assert n.payload["link"] == outbox_link(code, who, get_settings().public_base_url)
    assert "链接与此前发给您的相同，此前的链接仍然有效" in n.body and "失效" not in n.body
    # another reason is another message; in English for an English-speaking member
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE inspector SET language = 'en' WHERE inspector_id = :i"),
                     {"i": other_team[0]})  # fmt: skip
    _relink(cli, "--inspector", other_team[0], reason="notice forwarded by mistake")
    english = next(
        n for n in _messages(engine, NotificationKind.link_reissued)
        if (n.recipient, n.payload["credit_code"]) == (other_team[0], other)
    )  # fmt: skip
    assert english.subject.startswith("[Your link again]")
    assert "It is the same link as the one sent to you earlier, which still opens." in english.body


def test_a_member_whose_links_are_revoked_is_left_out_and_named(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    drawn = sorted(delivered_round(engine, monkeypatch).items())
    code, team = drawn[0]
    revoke_links(engine, team[1])
    _rotate(monkeypatch, KEYS[0])
    said = _relink(cli)
    assert team[1] not in {n.recipient for n in _messages(engine, NotificationKind.link_reissued)}
    assert f"not sent to {team[1]} on {code}: the links of inspector {team[1]} were revoked" in said


def test_each_relink_is_audited_with_who_why_and_to_whom(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    drawn = delivered_round(engine, monkeypatch)
    _rotate(monkeypatch, KEYS[0])
    _relink(cli)
    _relink(cli)
    with Session(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.event == "LinksReissued")
                        .order_by(AuditEvent.seq)).all()  # type: ignore[arg-type]  # fmt: skip
    first, second = (json.loads(e.payload) for e in events)
    seats = sum(len(t) for t in drawn.values())
    assert {k: first[k] for k in ("by", "reason", "inspector", "queued", "already")} == {
        "by": BY, "reason": REASON, "inspector": "", "queued": seats, "already": 0,
    }  # fmt: skip
    assert first["inspectors"] == sorted({m for t in drawn.values() for m in t})
    assert (second["queued"], second["already"], second["inspectors"]) == (0, seats, [])
    assert all(e.round_key == ROUND for e in events)


def _idle_inspector(engine: sa.Engine) -> str:
    """An inspector in the registry on no team of the round."""
    import datetime as dt

    from registry.models import Inspector

    with Session(engine) as s:
        s.add(Inspector(inspector_id="IDLE01", name="空闲检查员", unit="第九执法大队",
                        division_code="350100", credential_no="FJ999999",
                        credential_valid_from=dt.date(2024, 1, 1),
                        credential_valid_until=dt.date(2029, 1, 1), expertise=["ccc"],
                        email="idle@bureau.example.cn",
                        updated_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        s.commit()
    return "IDLE01"


def test_refusals_name_the_option(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    drawn = sorted(delivered_round(engine, monkeypatch).items())
    finished = drawn[0][1][0]  # every check of theirs final
    for code, team in drawn:
        if finished in team:
            final_finding(engine, code, team)
    idle = _idle_inspector(engine)
    ok = ["--by", BY, "--reason", REASON]
    assert _refused(cli, "--round", "R-nope", *ok) == "--round: no round 'R-nope'"
    assert _refused(cli, "--round", ROUND, "--by", " ", "--reason", REASON).startswith(
        "--by: say who sends the links again"
    )
    assert _refused(cli, "--round", ROUND, "--by", BY, "--reason", "").startswith(
        "--reason: say why the links are sent again"
    )
    long = _refused(cli, "--round", ROUND, "--by", BY, "--reason", "长" * 501)
    assert long == "--reason: 501 characters, at most 500"
    assert _refused(cli, "--round", ROUND, "--by", BY, "--reason", "密钥\x1b[2J泄露").startswith(
        "--reason: "
    )
    said = _refused(cli, "--round", ROUND, "--inspector", "NOBODY", *ok)
    assert said == "--inspector: no inspector 'NOBODY' in the registry"
    said = _refused(cli, "--round", ROUND, "--inspector", idle, *ok)
    assert said == f"--inspector: {idle} is on no team of round {ROUND} (never drawn, or replaced)"
    said = _refused(cli, "--round", ROUND, "--inspector", finished, *ok)
    assert said == (
        f"--inspector: every check of {finished} in round {ROUND} is final: no link to send again"
    )
    assert _messages(engine, NotificationKind.link_reissued) == []
    # as a coordinator types it: one line, exit 2
    home = Path(get_settings().home)
    typed = shuangsui(home.parent, "notifications", "relink", "--round", "R-nope", *ok,
                      SHUANGSUI_DATABASE_URL=get_settings().resolved_database_url,
                      SHUANGSUI_HOME=str(home), SHUANGSUI_ENVIRONMENT="test")  # fmt: skip
    assert typed.returncode == 2, typed.stderr
    assert typed.stderr.strip().splitlines()[-1] == "error: --round: no round 'R-nope'"


def test_a_round_not_drawn_has_no_link_to_send_again(engine: sa.Engine, cli: CliRunner) -> None:
    from rounds import service as rounds
    from tests.rounds.factories import plan_yaml, seed_registry

    seed_registry(engine)
    rounds.commit_round(engine=engine, plan_text=plan_yaml())
    said = _refused(cli, "--round", ROUND, "--by", BY, "--reason", REASON)
    assert (
        said == f"--round: round {ROUND} has no link to send again: it is not drawn yet: "
        "no link was sent"
    )


def _reissued_to(engine: sa.Engine, who: str, code: str) -> list[Notification]:
    return [
        n
        for n in _messages(engine, NotificationKind.link_reissued)
        if (n.recipient, n.payload["credit_code"]) == (who, code)
    ]


def test_a_member_replaced_after_a_relink_is_not_sent_its_link(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """The 检查链接重新发送 of a member then replaced, not sent yet, is withdrawn with their
    notice and reminders (its link opens nothing now); one sent is answered with the
    检查任务变更通知, as a notice that went is."""
    (code, team), (other, other_team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    _rotate(monkeypatch, KEYS[0])
    _relink(cli)
    replace_member(engine, ROUND, code, team[1], cause="conflict", note="回避", recorded_by=BY)
    assert _reissued_to(engine, team[1], code) == []
    assert len(_reissued_to(engine, team[0], code)) == 1  # who stays keeps theirs
    dispatch(engine=engine)
    replace_member(engine, ROUND, other, other_team[1], cause="unavailable", note="病假",
                   recorded_by=BY)  # fmt: skip
    (sent,) = _reissued_to(engine, other_team[1], other)
    assert sent.status == NotificationStatus.sent
    told = [n for n in _messages(engine, NotificationKind.assignment_withdrawn)
            if n.recipient == other_team[1]]  # fmt: skip
    assert len(told) == 1


@pytest.mark.postgres
def test_a_replacement_made_while_a_relink_is_written_waits_for_it(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving forced: the relink has read the teams and queued its messages, not yet
    committed, when a member is replaced. The replacement waits for the round's row the relink
    holds, then withdraws the link the relink queued to the member it withdraws. (SQLite: the
    relink holds the database's write lock, and the replacement waits for it the same way.)"""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from notifications.relink import relink
    from shuangsui import writes
    from tests.races import assert_blocked

    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    _rotate(monkeypatch, KEYS[0])
    queued, go = threading.Event(), threading.Event()

    def relink_held(session: Session) -> int:
        done = relink(session, round_key=ROUND, by=BY, reason=REASON, rotate=True)  # as the command
        queued.set()
        assert go.wait(60), "the test never let the relink go on"
        return len(done.queued)

    with ThreadPoolExecutor(2) as pool:
        relinking = pool.submit(writes.write, engine, relink_held, what="relink")
        try:
            assert queued.wait(30), "the relink never queued"
            replacing = pool.submit(replace_member, engine, ROUND, code, team[1],
                                    cause="conflict", note="回避", recorded_by=BY)  # fmt: skip
            assert_blocked(engine, replacing, "the replacement did not wait for the relink")
        finally:
            go.set()
        assert relinking.result(60) > 0
        replacing.result(60)
    assert _reissued_to(engine, team[1], code) == []
    assert len(_reissued_to(engine, team[0], code)) == 1
