"""A round's template filled in from a download made before an inspector submitted: each row
carries the enterprise's latest version when the template was made (下载时版本), and a row
whose finding has moved on since is refused naming who moved it, instead of being recorded
as a correction of a version the person filling it in never saw. Downloaded again, it
imports (a correction, with its reason)."""

from __future__ import annotations

import sqlalchemy as sa

from findings import service
from tests.findings.factories import ROUND, finding
from tests.workspace.helpers import coordinator_client, csrf_of
from tests.workspace.test_findings_import import _bytes, _fill, _post, _template, _versions

GOOD = {"检查结果": "未发现问题", "检查日期": "2026-12-10"}


def _row_of(ws, code: str) -> int:  # type: ignore[no-untyped-def]
    return next(i for i in range(2, ws.max_row + 1) if ws.cell(row=i, column=2).value == code)


def test_a_row_whose_finding_moved_on_since_the_download_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, teams, ssc = coordinator_live
    (moved, moved_team), (other, _), *_ = sorted(teams.items())
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text("select inspector_id, name from inspector")).all())
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}").text
        wb = _template(http)
        ws = wb.worksheets[0]
        header = [c.value for c in ws[1]]
        assert header[-1] == "下载时版本"
        assert {ws.cell(row=i, column=len(header)).value for i in range(2, ws.max_row + 1)} == {"0"}
        # meanwhile the inspector submits the first enterprise's finding
        lead = moved_team[0]
        service.submit(engine, round_key=ROUND, credit_code=moved, data=finding("other"),
                       submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
        for code in (moved, other):
            row = _row_of(ws, code)
            _fill(ws, row, **GOOD, 签字人员=ws.cell(row=row, column=4).value)
        r = _post(http, "结果.xlsx", _bytes(wb), csrf_of(page))
        assert r.status_code == 422, r.text
        who = f"{names[moved_team[0]]}（{moved_team[0]}）"
        assert f"第 {_row_of(ws, moved)} 行" in r.text and "下载时版本" in r.text
        assert (f"下载模板后这家企业的检查结果有了新版本（下载时第 0 版，现为第 1 版，{who} 提交）"
                in r.text)  # fmt: skip
        assert _versions(engine) == 1  # all rows or none: the other row waits too

        # downloaded again: the row is held to version 1, a correction with its reason
        wb = _template(http)
        ws = wb.worksheets[0]
        row = _row_of(ws, moved)
        assert ws.cell(row=row, column=len(header)).value == "1"
        _fill(ws, row, **GOOD, 原因="现场复核", 签字人员=ws.cell(row=row, column=4).value)
        other_row = _row_of(ws, other)
        _fill(ws, other_row, **GOOD, 签字人员=ws.cell(row=other_row, column=4).value)
        r = _post(http, "结果.xlsx", _bytes(wb), csrf_of(page))
        assert r.status_code == 303, r.text
    assert service.history(engine, ROUND, moved).versions[-1].version == 2
    assert _versions(engine) == 3


def test_a_file_without_the_column_is_not_held_to_a_version(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """An older template, or a file of the CLI's columns, has no 下载时版本: its rows import as
    before (a correction needs its reason, and says why)."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding("other"),
                   submitted_by=f"inspector:{team[0]}", signers=[team[0]])  # fmt: skip
    signers = ";".join(team)
    csv = ("轮次,统一社会信用代码,检查结果,检查日期,原因,签字人员\n"
           f"{ROUND},{code},未发现问题,2026-12-10,现场复核,{signers}\n").encode()  # fmt: skip
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}").text
        r = http.post(f"/w/c/rounds/{ROUND}/import", data={"csrf": csrf_of(page)},
                      files={"file": ("结果.csv", csv, "text/csv")})  # fmt: skip
    assert r.status_code == 303, r.text
    assert service.history(engine, ROUND, code).versions[-1].version == 2
