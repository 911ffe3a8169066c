"""Findings import all-or-nothing; deadlines count China's working days."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from findings import overdue, service
from findings.deadlines import Calendar, add_working_days
from findings.importer import import_findings
from shuangsui.errors import ImportRejected
from tests.findings.factories import ROUND, drawn_round, final_finding

HEADER = "轮次,统一社会信用代码,检查结果,检查日期,处理措施,内部备注,签字人员\n"


def test_import_rejects_every_bad_row_and_writes_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    teams = drawn_round(engine)
    (a, ta), (b, tb) = sorted(teams.items())[:2]
    bad = tmp_path / "findings.csv"
    bad.write_text(
        HEADER
        + f"{ROUND},{a},未发现问题,2026-12-10,,备注,{';'.join(ta)}\n"
        + f"{ROUND},{b},不知道,2026-12-10,,,{';'.join(tb)}\n"
        + f"{ROUND},{b},ordered_to_rectify,2026-12-10,rectify,,{';'.join(tb)}\n"
        + f"{ROUND},91350100MA0000000X,未发现问题,2026-12-40,,,x\n",
        encoding="gb18030",
    )
    with pytest.raises(ImportRejected) as info:
        import_findings(engine, bad, imported_by="王五")
    text = str(info.value)
    assert f"{bad}:3: result: unknown value '不知道'" in text
    assert f"{bad}:4: measures.0: 责令限期改正 (rectify) needs a deadline" in text
    assert f"{bad}:5: check_date: not a real date" in text
    assert service.count_versions(engine) == 0

    good = tmp_path / "good.csv"
    good.write_text(
        HEADER
        + f"{ROUND},{a},未发现问题,2026-12-10,,备注,{';'.join(ta)}\n"
        + f"{ROUND},{b},发现问题，依法责令立即改正或者限期改正,2026/12/11,"
        f"责令限期改正@2027-01-15,,{tb[0]}\n",
        encoding="utf-8-sig",
    )
    assert import_findings(engine, good, imported_by="王五") == 2
    assert service.history(engine, ROUND, a).public is not None  # whole team signed
    assert service.history(engine, ROUND, b).public is None  # one signature missing


def test_deadlines_list_late_and_due_soon(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    (a, ta), (b, tb) = sorted(teams.items())[:2]
    final_finding(engine, a, ta)
    final_at = service.history(engine, ROUND, a).public.final_at  # type: ignore[union-attr]
    today = final_at.date()
    items = {(i.credit_code, i.what): i for i in overdue.report(engine, today=today)}
    assert items[(a, "publish")].status == "ok"
    later = overdue.report(engine, today=today + dt.timedelta(days=60))
    late = {(i.credit_code, i.what): i for i in later}
    assert late[(a, "publish")].status == "late"
    assert late[(b, "finding")].status == "late"  # window ended with no finding


def test_calendar_uses_official_holidays_and_warns_for_unknown_years(caplog) -> None:
    # 2025 National Day: Oct 1-8 off, Sep 28 and Oct 11 (Sat) are adjusted workdays
    assert add_working_days(dt.date(2025, 9, 30), 1).day == dt.date(2025, 10, 9)
    with caplog.at_level(logging.WARNING):
        far = add_working_days(dt.date(2099, 12, 30), 3)
    assert far.warnings and "SHUANGSUI_EXTRA_HOLIDAYS" in far.warnings[0]
    cal = Calendar.from_settings("2100-01-01..2100-01-03")
    known = add_working_days(dt.date(2099, 12, 31), 1, cal)
    assert known.day == dt.date(2100, 1, 4) and "configured holidays" in known.warnings[-1]


def test_a_row_cut_short_is_refused_not_read_as_empty_cells(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A row ending before the header does (a line broken inside an unquoted description,
    say) was imported with the cells it lacked taken as empty: a finding without its
    description."""
    teams = drawn_round(engine)
    (a, ta), (b, tb) = sorted(teams.items())[:2]
    path = tmp_path / "findings.csv"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,签字人员,情况说明,内部备注\n"
        + f"{ROUND},{a},未发现问题,2026-12-10,{';'.join(ta)},现场核查证书与产品一致,无\n"
        + f"{ROUND},{b},未发现问题,2026-12-10,{';'.join(tb)}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as info:
        import_findings(engine, path, imported_by="王五")
    assert [str(p) for p in info.value.problems] == [f"{path}:3: row: 5 cells, the header has 7"]
    assert service.count_versions(engine) == 0
