"""A finding's check date is never after today (Asia/Shanghai) and lies in the round's window
unless the version says why: refused with the field named by the service, the API and the
import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from findings import service
from findings.dates import today as real_today
from findings.importer import import_findings
from shuangsui.errors import ImportRejected, UserError
from tests.findings.factories import ROUND, drawn_round, finding

WINDOW_DAY = dt.date(2026, 12, 10)


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
