"""A member of a drawn team replaced (docs/draw-algorithm.md §14; rounds/replacements.py).

Before, an inspector who had to leave a team after the draw (回避 declared once the notice
named the enterprise, illness, a transfer) could only be revoked: the seat stayed theirs, so
the finding could never be signed by the whole team and never became final."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import warnings

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from draw.canonical import lp
from draw.teams import elimination_rule
from findings import service as findings
from rounds import bundle
from rounds.artifacts import load_inputs
from rounds.models import Assignment, AuditEvent, Round, TeamChange
from rounds.replacements import replace_member
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from shuangsui.errors import IntegrityError, UserError
from tests.findings.factories import ROUND, drawn_round, final_finding, finding, teams

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _expected_v1(engine: sa.Engine, code: str, position: int, n: int, off: set[str]) -> str:
    """§14's pick read literally, for a version 1 round: every inspector of the committed
    frame through §9's rules, the lowest workload, ids in byte order, the ticket by hashlib."""
    with Session(engine) as s:
        rnd = s.get(Round, ROUND)
        assert rnd is not None and rnd.seed is not None
        inputs = load_inputs(s, ROUND, rnd.entropy or [])
        seed = bytes.fromhex(rnd.seed)
    now = teams(engine)
    loads: dict[str, int] = {}
    for team in now.values():
        for i in team:
            loads[i] = loads.get(i, 0) + 1
    ent = next(u for u in inputs.enterprises if u.credit_code == code)
    eligible = [
        (loads.get(u.inspector_id, 0), u.inspector_id.encode())
        for u in inputs.inspectors
        if u.inspector_id not in set(now[code]) | off
        and elimination_rule(
            u, ent, inputs.plan, inputs.conflicts, inputs.recent_pairs, loads.get(u.inspector_id, 0)
        )
        is None  # fmt: skip
    ]
    low = min(load for load, _ in eligible)
    level = sorted(i for load, i in eligible if load == low)
    digest = hashlib.sha256(
        seed + b"replace" + lp(code) + position.to_bytes(4, "big") + n.to_bytes(4, "big")
    ).digest()
    return level[int.from_bytes(digest, "big") % len(level)].decode()


def _count(engine: sa.Engine, table: type) -> int:
    with Session(engine) as s:
        return s.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_the_seat_goes_to_the_pick_the_seed_fixes_and_verify_replays_it(engine: sa.Engine) -> None:
    drawn = drawn_round(engine, draw_version=1)
    code, other = sorted(drawn)[:2]
    lead, second = drawn[code]
    want = _expected_v1(engine, code, 0, 1, {lead})
    done = replace_member(engine, ROUND, code, lead, cause="conflict",
                          note="其配偶在该企业任职，申请回避", recorded_by="李协调")  # fmt: skip
    assert done.replacement.replacement == want
    assert teams(engine)[code] == [want, second]  # the lead's seat, the second member stays
    # the same member withdrawn from another team for illness: kept off every later pick
    away = drawn[other][1]
    want2 = _expected_v1(engine, other, 1, 2, {away, lead} if lead in drawn[other] else {away})
    done2 = replace_member(engine, ROUND, other, away, cause="unavailable",
                           note="住院治疗", recorded_by="李协调")  # fmt: skip
    assert done2.replacement.replacement == want2
    rc = bundle.recompute(engine, ROUND)
    assert [r.withdrawal.n for r in rc.replacements] == [1, 2]
    _register_groups()
    runner = CliRunner()
    out = runner.invoke(app, ["round", "verify", ROUND])
    assert out.exit_code == 0, out.output
    assert "with 2 replacement(s) replayed, match the database" in out.output
    with Session(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.event == "MemberReplaced")).all()
    assert [e.round_key for e in events] == [ROUND, ROUND]
    assert "其配偶在该企业任职" in events[0].payload and "李协调" in events[0].payload


def test_a_replacement_written_around_the_rules_is_named_by_verify(engine: sa.Engine) -> None:
    """The stored teams must be the draw's with the recorded replacements replayed: a seat given
    to someone else, in the assignment and the team_change row alike, is named; so is a
    team_change row without its audit event."""
    drawn = drawn_round(engine)  # version 2: the pick is made among pseudonyms
    code = sorted(drawn)[0]
    done = replace_member(engine, ROUND, code, drawn[code][1], cause="left",
                          note="已调离本局", recorded_by="李协调")  # fmt: skip
    bundle.recompute(engine, ROUND)  # as recorded: verifies
    chosen = done.replacement.replacement
    everyone = {i for team in drawn.values() for i in team}
    other = sorted(everyone - set(teams(engine)[code]) - {drawn[code][1]})[0]
    with Session(engine) as s:
        s.execute(sa.update(Assignment).where(Assignment.round_key == ROUND,
                  Assignment.credit_code == code, Assignment.inspector_id == chosen)
                  .values(inspector_id=other))  # fmt: skip
        s.execute(sa.update(TeamChange).values(replacement=other))
        s.commit()
    with pytest.raises(IntegrityError, match="stored as"):
        bundle.recompute(engine, ROUND)
    with Session(engine) as s:  # the rows put back, and the audit event removed with its row
        s.execute(sa.update(Assignment).where(Assignment.inspector_id == other,
                  Assignment.credit_code == code).values(inspector_id=chosen))  # fmt: skip
        s.execute(sa.update(TeamChange).values(replacement=chosen))
        s.commit()
    bundle.recompute(engine, ROUND)
    with Session(engine) as s:
        s.execute(sa.delete(TeamChange))
        s.commit()
    with pytest.raises(IntegrityError):  # the seat no longer replays to what is stored
        bundle.recompute(engine, ROUND)


def test_refused_and_nothing_written(engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    done_code, open_code = sorted(drawn)[:2]
    final_finding(engine, done_code, drawn[done_code])
    stranger = sorted({i for t in drawn.values() for i in t} - set(drawn[open_code]))[0]
    before = (_count(engine, TeamChange), _count(engine, AuditEvent), teams(engine))
    cases = {
        "is final": (done_code, drawn[done_code][0], "conflict", "回避"),
        "not on the team": (open_code, stranger, "conflict", "回避"),
        "cause: must be one of": (open_code, drawn[open_code][0], "sick", "住院"),
        "note: say why": (open_code, drawn[open_code][0], "conflict", "  "),
        "note: contains the control character U": (
            open_code,
            drawn[open_code][0],
            "conflict",
            "a\x1b[2Jb",
        ),
    }
    for said, (code, who, cause, note) in cases.items():
        with pytest.raises(UserError, match=said):
            replace_member(engine, ROUND, code, who, cause=cause, note=note, recorded_by="李")
    assert (_count(engine, TeamChange), _count(engine, AuditEvent), teams(engine)) == before


def test_a_draft_signed_by_the_withdrawn_member_needs_the_replacement(engine: sa.Engine) -> None:
    """A version the withdrawn member submitted is not final; once the replacement and the
    member who stayed have signed it, it is, and the withdrawn member can no longer sign."""
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    v = findings.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                        submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    done = replace_member(engine, ROUND, code, lead, cause="unavailable", note="病假",
                          recorded_by="李协调")  # fmt: skip
    new = done.replacement.replacement
    with pytest.raises(Exception, match="team"):
        findings.sign_off(engine, round_key=ROUND, credit_code=code, version=v.version,
                          inspector_id=lead)  # fmt: skip
    findings.sign_off(engine, round_key=ROUND, credit_code=code, version=v.version,
                      inspector_id=second)  # fmt: skip
    state = findings.sign_off(engine, round_key=ROUND, credit_code=code, version=v.version,
                              inspector_id=new)  # fmt: skip
    assert state.final


def test_two_replacements_at_once_are_numbered_in_turn(engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    codes = sorted(drawn)[:4]
    errors: list[BaseException] = []

    def one(code: str) -> None:
        try:
            replace_member(engine, ROUND, code, drawn[code][0], cause="conflict",
                           note="回避", recorded_by="李协调")  # fmt: skip
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(c,)) for c in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with Session(engine) as s:
        ns = sorted(s.exec(select(TeamChange.n)).all())
    assert ns == [1, 2, 3, 4]
    rc = bundle.recompute(engine, ROUND)
    assert len(rc.replacements) == 4


def test_the_command_line(engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    _register_groups()
    runner = CliRunner()
    argv = ["round", "replace", ROUND, code, drawn[code][1], "--cause", "conflict"]
    out = runner.invoke(app, [*argv, "--note", "申请回避", "--by", "李协调"])
    assert out.exit_code == 0, out.output
    new = teams(engine)[code][1]
    assert f"replacement 1: {drawn[code][1]} leaves position 1 of {code} (conflict); {new}" in (
        out.output
    )
    again = runner.invoke(app, ["round", "replace", ROUND, code, drawn[code][1],
                                "--cause", "conflict", "--note", "申请回避"])  # fmt: skip
    assert again.exit_code != 0
    assert f"{drawn[code][1]} is not on the team of {code}" in str(again.exception) + again.output


def test_links_and_notices_follow_the_seat(engine: sa.Engine) -> None:
    """The withdrawn member's link to that enterprise stops opening it and their unsent
    notice for it is withdrawn; the replacement gets a 检查任务通知 with a link that opens it;
    the member who stays is not sent theirs again."""
    from notifications import hooks
    from notifications.links import assignment_token
    from notifications.models import Notification, NotificationKind

    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]

    def notices(who: str) -> list[Notification]:
        with Session(engine) as s:
            rows = s.exec(select(Notification).where(
                Notification.round_key == ROUND, Notification.recipient == who,
                Notification.kind == NotificationKind.assignment)).all()  # fmt: skip
        return [n for n in rows if code in n.body]

    assert len(notices(lead)) == 1 and len(notices(second)) == 1
    done = replace_member(engine, ROUND, code, lead, cause="conflict", note="回避",
                          recorded_by="李协调")  # fmt: skip
    new = done.replacement.replacement
    assert notices(lead) == []  # never sent: withdrawn
    assert len(notices(second)) == 1  # not sent again
    (sent,) = notices(new)
    assert "检查任务通知" in sent.subject or "检查" in sent.subject
    secret = get_settings().secret_key.get_secret_value()
    client = TestClient(create_app(engine=engine))

    def opens(who: str) -> int:
        token = assignment_token(secret, ROUND, code, who)
        return client.get(f"/findings/{ROUND}/{code}", params={"token": token}).status_code

    assert opens(new) == 200
    assert opens(second) == 200
    assert opens(lead) == 403  # not on the team any more


def test_what_the_registry_says_now_is_said_with_the_pick(engine: sa.Engine) -> None:
    """§14 picks on the frame as committed (so the bundle can redo it); an inspector retired,
    or with a conflict declared with the enterprise since, can be picked, and is named so the
    coordinator withdraws them too."""
    import datetime as dt

    from registry.models import Conflict, Inspector, InspectorStatus

    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    with Session(engine) as s:
        for person in s.exec(select(Inspector)).all():
            if person.inspector_id not in drawn[code]:
                person.status = InspectorStatus.inactive
                s.add(person)
                on, at = dt.date(2026, 12, 3), dt.datetime.now(dt.UTC)
                s.add(Conflict(inspector_id=person.inspector_id, credit_code=code,
                               declared_on=on, updated_at=at))  # fmt: skip
        s.commit()
    _register_groups()
    argv = ["round", "replace", ROUND, code, drawn[code][0], "--cause", "conflict"]
    out = CliRunner().invoke(app, [*argv, "--note", "回避", "--by", "李协调"])
    assert out.exit_code == 0, out.output
    new = teams(engine)[code][0]
    assert f"warning: {new} is not active in the registry now: withdraw them too" in out.output
    assert f"warning: {new} has a conflict with this enterprise declared" in out.output


def _dues(engine: sa.Engine, code: str) -> list[dt.date]:
    with Session(engine) as s:
        return list(s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all())


def test_a_seat_whose_date_is_gone_needs_a_new_one_for_the_whole_team(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the replacement took the seat with its date kept, gone or not: late the day
    they were named, the coordinator escalated to at once, no way to give the check a date.
    Now a seat whose date is gone is refused without a new date; the date given is every
    seat's of the team (one finding, signed by all: a team with one member late is late), is
    recorded in the row and the audit event, and the links' expiry follows it."""
    from api import inspector_tokens
    from notifications.outbox import _late_teams

    drawn = drawn_round(engine)
    code, other = sorted(drawn)[:2]
    lead, second = drawn[code]
    gone = _dues(engine, code)[0]  # the window's last day, two days ago: the window has closed
    today = gone + dt.timedelta(days=2)
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: today)
    before = (_count(engine, TeamChange), _count(engine, AuditEvent), teams(engine))
    with pytest.raises(UserError, match=f"due_on: the seat's due date, {gone}, is gone") as no:
        replace_member(engine, ROUND, code, second, cause="left", note="调离", recorded_by="李")
    assert getattr(no.value, "kind", None) == "due-gone"
    assert (_count(engine, TeamChange), _count(engine, AuditEvent), teams(engine)) == before
    new_date = today + dt.timedelta(days=30)
    done = replace_member(engine, ROUND, code, second, cause="left", note="调离",
                          recorded_by="李", due_on=new_date)  # fmt: skip
    assert done.due_on == new_date and done.due_moved
    assert _dues(engine, code) == [new_date, new_date]  # the lead's seat too
    with Session(engine) as s:
        row = s.get(TeamChange, (ROUND, 1))
        assert row is not None and row.due_on == new_date
        (event,) = s.exec(select(AuditEvent).where(AuditEvent.event == "MemberReplaced")).all()
        assert json.loads(event.payload)["due_on"] == new_date.isoformat()
        access = inspector_tokens.load(s, ROUND, code)
        assert access is not None and access.due == new_date
        late = {t.credit_code for t in _late_teams(s, today, ()).get(ROUND, [])}
    assert code not in late and other in late  # the other team's date is still gone
    bundle.recompute(engine, ROUND)  # the date agrees with its event


def test_a_new_date_is_from_today_to_a_year_on(engine: sa.Engine) -> None:
    """A date given is not gone already, nor so far that it reads as a slip; without one a
    seat whose date is still to come keeps it, and the row and the event say none was given."""
    from rounds.replacements import a_year_after, bureau_today

    drawn = drawn_round(engine)
    code, other, third = sorted(drawn)[:3]
    today = bureau_today()
    for due, said in (
        (today - dt.timedelta(days=1), "is before today"),
        (a_year_after(today) + dt.timedelta(days=1), "is more than a year after"),
    ):
        with pytest.raises(UserError, match=f"due_on: {due} {said}"):
            replace_member(engine, ROUND, code, drawn[code][0], cause="conflict", note="回避",
                           recorded_by="李", due_on=due)  # fmt: skip
    assert _count(engine, TeamChange) == 0
    kept = _dues(engine, code)
    done = replace_member(engine, ROUND, code, drawn[code][0], cause="conflict", note="回避",
                          recorded_by="李")  # fmt: skip
    assert not done.due_moved and _dues(engine, code) == kept == [done.due_on] * 2
    replace_member(engine, ROUND, other, drawn[other][0], cause="conflict", note="回避",
                   recorded_by="李", due_on=today)  # fmt: skip
    replace_member(engine, ROUND, third, drawn[third][0], cause="conflict", note="回避",
                   recorded_by="李", due_on=a_year_after(today))  # fmt: skip
    assert _dues(engine, other) == [today] * 2
    assert _dues(engine, third) == [a_year_after(today)] * 2
    with Session(engine) as s:
        rows = s.exec(select(TeamChange).order_by(TeamChange.n)).all()
        events = s.exec(select(AuditEvent).where(AuditEvent.event == "MemberReplaced")).all()
    assert [r.due_on for r in rows] == [None, today, a_year_after(today)]
    assert json.loads(events[0].payload)["due_on"] is None
    bundle.recompute(engine, ROUND)


def test_the_command_line_gives_a_new_date(engine: sa.Engine) -> None:
    from rounds.replacements import bureau_today

    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    _register_groups()
    runner = CliRunner()
    argv = ["round", "replace", ROUND, code, drawn[code][1], "--cause", "left", "--note", "调离"]
    bad = runner.invoke(app, [*argv, "--due-on", "2027-02-30"])
    assert bad.exit_code == 2 and "is not a date (YYYY-MM-DD)" in bad.output
    new_date = bureau_today() + dt.timedelta(days=10)
    out = runner.invoke(app, [*argv, "--due-on", new_date.isoformat()])
    assert out.exit_code == 0, out.output
    assert f"the check is due on {new_date} (new: every member's)" in out.output
    assert _dues(engine, code) == [new_date] * 2
