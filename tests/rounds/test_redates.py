"""A team's check given a new date with no one withdrawn (rounds/redates.py), and ``round
verify`` checking every assignment's date against the record (rounds/due_dates.py).

Before, a check's date moved only with a replacement, and ``round verify`` compared nothing
about the dates: a late check's date rewritten in the database passed."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from rounds import bundle
from rounds.models import Assignment, AuditEvent, DueChange, Round
from rounds.redates import move_due_date
from rounds.replacements import replace_member
from shuangsui.cli import _register_groups, app
from shuangsui.errors import IntegrityError, UserError
from tests.findings.factories import ROUND, drawn_round, final_finding

TODAY = dt.date(2026, 12, 7)  # tests/conftest.py's _replacement_clock


def _dues(engine: sa.Engine, code: str) -> list[dt.date]:
    with Session(engine) as s:
        return list(s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all())


def _window_end(engine: sa.Engine) -> dt.date:
    with Session(engine) as s:
        rnd = s.get(Round, ROUND)
        assert rnd is not None
        return rnd.window_end


def _count(engine: sa.Engine, table: type) -> int:
    with Session(engine) as s:
        return s.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_verify_names_a_date_rewritten_in_the_database(engine: sa.Engine) -> None:
    """An assignment's date rewritten by SQL (a late check made to look on time) is named:
    the round, the enterprise, the inspector and both dates; and ``round verify`` fails."""
    drawn = drawn_round(engine)
    code = sorted(drawn)[1]
    second = drawn[code][1]
    end = _window_end(engine)
    bundle.recompute(engine, ROUND)
    with Session(engine) as s:
        s.execute(
            sa.update(Assignment)
            .where(Assignment.credit_code == code, Assignment.inspector_id == second)
            .values(due_on=dt.date(2027, 3, 1))
        )
        s.commit()
    said = (
        f"round {ROUND}: the check of {code} by {second} is stored as due on 2027-03-01, the "
        f"record says {end} .*differs: due_on 2027-03-01 != {end}"
    )
    with pytest.raises(IntegrityError, match=said):
        bundle.recompute(engine, ROUND)
    _register_groups()
    out = CliRunner().invoke(app, ["round", "verify", ROUND])
    assert out.exit_code != 0
    assert f"{code} by {second} is stored as due on 2027-03-01" in str(out.exception) + out.output


def test_verify_follows_the_dates_recorded_in_order(engine: sa.Engine) -> None:
    """A replacement's date, then a new date on its own: the team's date is the last given;
    a date put back to the window's last day by SQL after them is named, and so is a row
    whose reason or old date was rewritten."""
    drawn = drawn_round(engine)
    code, other = sorted(drawn)[:2]
    first = TODAY + dt.timedelta(days=40)
    replace_member(engine, ROUND, code, drawn[code][0], cause="conflict", note="回避",
                   recorded_by="李", due_on=first)  # fmt: skip
    done = move_due_date(engine, ROUND, code, due_on=TODAY + dt.timedelta(days=60),
                         reason="企业停产整顿一个月", recorded_by="李")  # fmt: skip
    assert done.old_due_on == first and done.n == 1
    move_due_date(engine, ROUND, other, due_on=TODAY + dt.timedelta(days=3), reason="提前",
                  recorded_by="王")  # fmt: skip
    bundle.recompute(engine, ROUND)
    with Session(engine) as s:
        s.execute(sa.update(Assignment).where(Assignment.credit_code == code)
                  .values(due_on=_window_end(engine)))  # fmt: skip
        s.commit()
    with pytest.raises(IntegrityError, match=f"{code} by .*differs: due_on"):
        bundle.recompute(engine, ROUND)
    with Session(engine) as s:
        s.execute(sa.update(Assignment).where(Assignment.credit_code == code)
                  .values(due_on=done.due_on))  # fmt: skip
        s.commit()
    bundle.recompute(engine, ROUND)
    for column, value in (("reason", "例行"), ("old_due_on", dt.date(2026, 12, 31))):
        with Session(engine) as s:
            row = s.get(DueChange, (ROUND, 1))
            assert row is not None
            kept = getattr(row, column)
            s.execute(sa.update(DueChange).where(DueChange.n == 1).values({column: value}))
            s.commit()
        with pytest.raises(IntegrityError, match=f"new due date 1 .*differs: {column}"):
            bundle.recompute(engine, ROUND)
        with Session(engine) as s:
            s.execute(sa.update(DueChange).where(DueChange.n == 1).values({column: kept}))
            s.commit()
    bundle.recompute(engine, ROUND)


def test_a_new_date_is_every_seat_s_and_recorded(engine: sa.Engine) -> None:
    from api import inspector_tokens

    drawn = drawn_round(engine)
    code, other = sorted(drawn)[:2]
    end = _window_end(engine)
    new_date = dt.date(2027, 1, 29)
    done = move_due_date(engine, ROUND, code, due_on=new_date, reason="等待检测结果",
                         recorded_by="李协调")  # fmt: skip
    assert (done.n, done.old_due_on, done.due_on, done.team) == (1, end, new_date,
                                                                  tuple(drawn[code]))  # fmt: skip
    assert _dues(engine, code) == [new_date] * 2 and _dues(engine, other) == [end] * 2
    with Session(engine) as s:
        row = s.get(DueChange, (ROUND, 1))
        assert row is not None
        assert (row.credit_code, row.old_due_on, row.due_on, row.reason, row.recorded_by) == (
            code, end, new_date, "等待检测结果", "李协调")  # fmt: skip
        (event,) = s.exec(select(AuditEvent).where(AuditEvent.event == "DueDateMoved")).all()
        said = json.loads(event.payload)
        access = inspector_tokens.load(s, ROUND, code)
    assert said == {"n": 1, "credit_code": code, "old_due_on": end.isoformat(),
                    "due_on": new_date.isoformat(), "reason": "等待检测结果",
                    "recorded_by": "李协调", "recorded_at": said["recorded_at"]}  # fmt: skip
    assert event.round_key == ROUND and said["recorded_at"]
    assert access is not None and access.due == new_date  # the links' expiry follows
    bundle.recompute(engine, ROUND)


def test_refused_and_nothing_written(engine: sa.Engine) -> None:
    from rounds.replacements import a_year_after

    drawn = drawn_round(engine)
    code, done_code = sorted(drawn)[:2]
    final_finding(engine, done_code, drawn[done_code])
    end = _window_end(engine)
    later = TODAY + dt.timedelta(days=20)
    before = (_count(engine, DueChange), _count(engine, AuditEvent), _dues(engine, code))
    for kind, round_key, where, due, reason, said in (
        ("due-past", ROUND, code, TODAY - dt.timedelta(days=1), "r", "is before today"),
        ("due-far", ROUND, code, a_year_after(TODAY) + dt.timedelta(days=1), "r",
         "more than a year after"),
        ("due-same", ROUND, code, end, "r", f"is due on {end} already"),
        ("reason-missing", ROUND, code, later, "  ", "reason: say why the check moves"),
        ("reason-unprintable", ROUND, code, later, "a\x1bb", "reason:"),
        ("no-round", "ccc-2099-01", code, later, "r", "no such round"),
        ("no-team", ROUND, "9" * 18, later, "r", "has no team for"),
        ("final", ROUND, done_code, later, "r", "its date can no longer move"),
    ):  # fmt: skip
        with pytest.raises(UserError, match=said) as no:
            move_due_date(engine, round_key, where, due_on=due, reason=reason, recorded_by="李")
        assert getattr(no.value, "kind", None) == kind
    assert (_count(engine, DueChange), _count(engine, AuditEvent), _dues(engine, code)) == before


def test_the_command_line(engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    _register_groups()
    runner = CliRunner()
    argv = ["round", "redate", ROUND, code, "--reason", "企业停业", "--by", "李协调"]
    bad = runner.invoke(app, [*argv, "--due-on", "2027-02-30"])
    assert bad.exit_code == 2 and "is not a date (YYYY-MM-DD)" in bad.output
    out = runner.invoke(app, [*argv, "--due-on", "2027-01-20"])
    assert out.exit_code == 0, out.output
    end = _window_end(engine)
    assert f"new due date 1: the check of {code} is due on 2027-01-20 (was {end})" in out.output
    assert _dues(engine, code) == [dt.date(2027, 1, 20)] * 2
    again = runner.invoke(app, [*argv, "--due-on", "2027-01-20"])
    assert again.exit_code != 0
    assert "is due on 2027-01-20 already" in str(again.exception) + again.output
    verified = runner.invoke(app, ["round", "verify", ROUND])
    assert verified.exit_code == 0, verified.output
    assert "every check's due date is the one its record gives" in verified.output


def test_a_check_moved_past_today_is_no_longer_overdue(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the window, a check not done is late (the deadlines list, the coordinator's
    escalations); given a new date still to come, it is not."""
    from findings import overdue
    from notifications.outbox import _late_teams

    drawn = drawn_round(engine)
    code, other = sorted(drawn)[:2]
    today = _window_end(engine) + dt.timedelta(days=3)
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: today)

    def late() -> tuple[set[str], set[str]]:
        listed = overdue.report(engine, today=today, round_keys=[ROUND])
        with Session(engine) as s:
            escalated = {t.credit_code for t in _late_teams(s, today, ()).get(ROUND, [])}
        return {i.credit_code for i in listed if i.status == "late"}, escalated

    listed, escalated = late()
    assert {code, other} <= listed and {code, other} <= escalated
    move_due_date(engine, ROUND, code, due_on=today + dt.timedelta(days=14), reason="企业停业",
                  recorded_by="李")  # fmt: skip
    listed, escalated = late()
    assert code not in listed and other in listed
    assert code not in escalated and other in escalated


def test_a_seat_handed_on_with_its_date_near_is_warned(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replacement that keeps the seat's date, two working days away or fewer on the
    calendar with its holidays and 调休, is told so with a date to give instead; not refused.
    Before, nothing was said: the replacement learnt it from the notice."""
    drawn = drawn_round(engine)
    near, far, given = sorted(drawn)[:3]
    today = dt.date(2026, 9, 30)  # then 国庆: 10-01 to 10-07 are no working days
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: today)
    move_due_date(engine, ROUND, near, due_on=dt.date(2026, 10, 9), reason="r", recorded_by="李")
    move_due_date(engine, ROUND, far, due_on=dt.date(2026, 10, 13), reason="r", recorded_by="李")
    move_due_date(engine, ROUND, given, due_on=dt.date(2026, 10, 9), reason="r", recorded_by="李")
    _register_groups()
    runner = CliRunner()
    out = runner.invoke(app, ["round", "replace", ROUND, near, drawn[near][1], "--cause", "left",
                              "--note", "调离", "--by", "李"])  # fmt: skip
    assert out.exit_code == 0, out.output
    (line,) = [x for x in out.output.splitlines() if x.startswith("warning: the check is due")]
    assert line.startswith("warning: the check is due on 2026-10-09, 2 working day(s) from today")
    suggested = dt.date.fromisoformat(line.split("--due-on ")[1].split()[0])
    assert f"round redate {ROUND} {near} --due-on" in line and suggested > dt.date(2026, 10, 9)
    kept = replace_member(engine, ROUND, far, drawn[far][1], cause="left", note="调离",
                          recorded_by="李")  # fmt: skip
    assert kept.due_soon is None  # 10-08, 10-09, 10-10 (调休) and 10-12: four working days
    moved = replace_member(engine, ROUND, given, drawn[given][1], cause="left", note="调离",
                           recorded_by="李", due_on=dt.date(2026, 11, 2))  # fmt: skip
    assert moved.due_soon is None
    bundle.recompute(engine, ROUND)


def test_a_new_date_must_say_the_date_the_record_had(engine: sa.Engine) -> None:
    """A row and its event written around the service (the chain intact) that name an old
    date the record never had: the sequence of dates does not hold, and verify says so."""
    from rounds import audit
    from rounds.due_dates import event_of

    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    end = _window_end(engine)
    with Session(engine) as s:
        row = DueChange(round_key=ROUND, n=1, credit_code=code, old_due_on=dt.date(2027, 1, 1),
                        due_on=dt.date(2027, 1, 20), reason="延期", recorded_by="李",
                        recorded_at=dt.datetime.now(dt.UTC))  # fmt: skip
        s.add(row)
        audit.add_to(s, ROUND, event_of(row))
        s.execute(sa.update(Assignment).where(Assignment.credit_code == code)
                  .values(due_on=dt.date(2027, 1, 20)))  # fmt: skip
        s.commit()
    said = f"new due date 1 of {code} says the check was due on 2027-01-01, the record says {end}"
    with pytest.raises(IntegrityError, match=said):
        bundle.recompute(engine, ROUND)
