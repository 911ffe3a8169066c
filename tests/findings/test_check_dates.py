"""A finding's check date is never after today (Asia/Shanghai) and lies in the round's window
unless the version says why: refused with the field named by the service, the API and the
import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from findings import service
from findings.dates import today as real_today
from findings.importer import import_findings
from rounds.models import Round
from rounds.redates import move_due_date
from shuangsui.errors import ImportRejected, UserError
from tests.findings.factories import ROUND, drawn_round, finding

WINDOW_DAY = dt.date(2026, 12, 10)
WINDOW_START = dt.date(2026, 12, 7)


def _submit(engine: sa.Engine, code: str, team: list[str], today: dt.date, **kw: object) -> int:
    return service.submit(
        engine, round_key=ROUND, credit_code=code, data=finding(**kw),
        submitted_by=f"inspector:{team[0]}", signers=[team[0]], today=today,
    ).version  # fmt: skip


def test_future_and_off_window_dates_are_refused_unless_explained(engine: sa.Engine) -> None:
    code, team = sorted(drawn_round(engine).items())[0]
    with pytest.raises(UserError, match=r"check_date: 2099-01-01 is in the future"):
        _submit(engine, code, team, WINDOW_DAY, check_date=dt.date(2099, 1, 1))
    with pytest.raises(UserError, match=r"check_date: 2026-12-11 is in the future"):
        _submit(engine, code, team, WINDOW_DAY, check_date=dt.date(2026, 12, 11))
    with pytest.raises(UserError, match=r"check_date: 2020-05-01 is outside the round's window"):
        _submit(engine, code, team, WINDOW_DAY, check_date=dt.date(2020, 5, 1))
    # even with a reason, the future stays refused
    with pytest.raises(UserError, match="in the future"):
        _submit(engine, code, team, WINDOW_DAY, check_date=dt.date(2099, 1, 1), reason="x")
    assert service.count_versions(engine) == 0
    assert _submit(engine, code, team, WINDOW_DAY, check_date=WINDOW_DAY) == 1
    # a correction to a day before the window says why (its reason)
    assert _submit(engine, code, team, WINDOW_DAY, check_date=dt.date(2026, 11, 28),
                   reason="企业停产前提前检查") == 2  # fmt: skip


def test_today_is_the_date_in_beijing() -> None:
    # 2026-11-30 18:10 UTC is already 2026-12-01 in Beijing (the real function: tests patch it)
    assert real_today(dt.datetime(2026, 11, 30, 18, 10, tzinfo=dt.UTC)) == dt.date(2026, 12, 1)


def test_import_names_the_check_date_of_the_row(engine: sa.Engine, tmp_path: Path) -> None:
    (a, ta), (b, tb) = sorted(drawn_round(engine).items())[:2]
    path = tmp_path / "findings.csv"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,原因,签字人员\n"
        f"{ROUND},{a},未发现问题,2099-12-10,,{';'.join(ta)}\n"
        f"{ROUND},{b},未发现问题,2020-12-10,,{';'.join(tb)}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as info:
        import_findings(engine, path, imported_by="王五")
    text = str(info.value)
    assert f"{path}:2: check_date: 2099-12-10 is in the future" in text
    assert f"{path}:3: check_date: 2020-12-10 is outside the round's window" in text
    assert service.count_versions(engine) == 0
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,原因,签字人员\n"
        f"{ROUND},{b},未发现问题,2020-12-10,补录纸质记录,{';'.join(tb)}\n",
        encoding="utf-8",
    )
    assert import_findings(engine, path, imported_by="王五") == 1


def test_a_check_moved_past_the_window_may_take_place_until_its_new_date(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coordinator's 延期 (recorded with its reason) moves a check past the round's window:
    a check on a day up to the new date needs no second reason, from the inspector (the
    service) or from the coordinator's import; a day after it still does, and says both."""
    (a, ta), (b, tb) = sorted(drawn_round(engine).items())[:2]
    end = _window_end(engine)
    moved_to = end + dt.timedelta(days=20)
    move_due_date(engine, ROUND, a, due_on=moved_to, reason="企业停产整顿", recorded_by="林科长")
    after_window, later = end + dt.timedelta(days=10), moved_to + dt.timedelta(days=1)
    today = later + dt.timedelta(days=1)
    with pytest.raises(UserError) as refused:  # the team whose date did not move
        _submit(engine, b, tb, today, check_date=after_window)
    assert "and after this check's due date" not in str(refused.value)
    with pytest.raises(UserError, match=rf"\({WINDOW_START} to {end}\) and after this "
                       rf"check's due date {moved_to}; correct it"):  # fmt: skip
        _submit(engine, a, ta, today, check_date=later)
    assert _submit(engine, a, ta, today, check_date=moved_to) == 1  # its last day

    monkeypatch.setattr("findings.dates.today", lambda now=None: today)  # the import's today
    path = tmp_path / "findings.csv"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,原因,签字人员\n"
        f"{ROUND},{b},未发现问题,{after_window},,{';'.join(tb)}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected, match="outside the round's window"):
        import_findings(engine, path, imported_by="王五")
    move_due_date(engine, ROUND, b, due_on=moved_to, reason="企业停产整顿", recorded_by="林科长")
    assert import_findings(engine, path, imported_by="王五") == 1


def _window_end(engine: sa.Engine) -> dt.date:
    with Session(engine) as session:
        rnd = session.get(Round, ROUND)
        assert rnd is not None and rnd.window_start == WINDOW_START
        return rnd.window_end


def test_the_pages_say_a_moved_check_date_in_chinese() -> None:
    """The inspector's form and the import page say the refusal of a day after a moved date
    in Chinese, naming the window and the new date (not the window's sentence alone)."""
    from workspace import forms, import_reasons

    message = ("check_date: 2027-01-21 is outside the round's window (2026-12-07 to 2026-12-31) "
               "and after this check's due date 2027-01-20; correct it, or give the reason "
               "(reason, 原因) why the check took place on that day")  # fmt: skip
    assert forms.in_chinese(message) == (
        "检查日期 2027-01-21 不在本轮检查期间（2026-12-07 至 2026-12-31）内，也晚于本次检查"
        "调整后的完成期限 2027-01-20：请更正，或在“说明”中写明原因"
    )
    field, _, reason = message.partition(": ")
    assert import_reasons.said(reason) == (
        "2027-01-21 不在本轮检查期间（2026-12-07 至 2026-12-31）内，也晚于这家企业检查调整后的"
        "完成期限 2027-01-20：请改正，或在“原因”一列写明为何在这一天检查"
    )
