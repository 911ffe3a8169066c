"""Control characters in a finding's text (a line pasted from Word brings U+000B): the API
refuses them, naming the field, and stores nothing; a finding stored with one before that rule
(or by another path) still exports as XLSX, the character shown as U+FFFD, and as CSV as it is."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from findings import service
from findings.models import Finding, FindingVersion
from notifications.links import assignment_token
from shuangsui.config import get_settings
from shuangsui.spreadsheet import write_xlsx
from tests.findings.factories import ROUND, drawn_round, final_finding
from tests.findings.live import serve
from tests.workspace.helpers import sign_in
from workspace.exports import FINDINGS_HEADER

DESCRIPTION = FINDINGS_HEADER.index("情况说明")
PASTED = "从Word粘贴\u000b的第二行\u0000"  # the reviewer's request


def _post(engine: sa.Engine, body: dict[str, Any]) -> tuple[httpx.Response, str]:
    code, team = sorted(drawn_round(engine).items())[0]
    token = assignment_token(get_settings().secret_key.get_secret_value(), ROUND, code, team[0])
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        resp = http.post(
            f"/findings/{ROUND}/{code}", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    return resp, code


@pytest.mark.parametrize(
    "field, body, char",
    [
        ("description", {"description": PASTED}, "U+000B"),
        ("description", {"description": "第一行\u0000"}, "U+0000"),
        ("description", {"description": "第一行\u000b第二行"}, "U+000B"),
        ("internal_note", {"internal_note": "备注\u0007"}, "U+0007"),
        ("reason", {"reason": "更正\u001b"}, "U+001B"),
        ("measures.0.text", {"measures": [
            {"kind": "rectify_now", "text": "整改\u000c"}]}, "U+000C"),
        ("certificates.0.number", {"certificates": [
            {"body": "CQC", "number": "2026\t0101", "action": "kept"}]}, "U+0009"),
    ],
)  # fmt: skip
def test_a_control_character_is_refused_naming_the_field_and_nothing_is_stored(
    engine: sa.Engine, field: str, body: dict[str, Any], char: str
) -> None:
    resp, _code = _post(engine, {"result": "no_problem", "check_date": "2026-12-10", **body})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["errors"] == [
        {
            "field": f"body.{field}",
            "reason": f"contains the control character {char}; retype the value without it",
        }
    ]
    assert f"body.{field}: contains the control character {char}" in problem["detail"]
    with Session(engine) as s:
        assert s.exec(select(Finding)).all() == []
        assert s.exec(select(FindingVersion)).all() == []


@pytest.mark.parametrize(
    "field, body, char",
    [
        ("description", {"description": "整改\u202e完成"}, "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("reason", {"reason": "\u2066更正"}, "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
        ("certificates.0.number", {"certificates": [
            {"body": "CQC", "number": "2026\u200b0101", "action": "kept"}]},
         "U+200B (ZERO WIDTH SPACE)"),
    ],
)  # fmt: skip
def test_an_invisible_character_is_refused_naming_the_field_and_nothing_is_stored(
    engine: sa.Engine, field: str, body: dict[str, Any], char: str
) -> None:
    """A bidirectional override or a zero-width character shows the text around it otherwise
    than it is stored (published, and shared with partners): refused as a control character."""
    resp, _code = _post(engine, {"result": "no_problem", "check_date": "2026-12-10", **body})
    assert resp.status_code == 422, resp.text
    reason = f"contains the invisible character {char}; retype the value without it"
    assert resp.json()["errors"] == [{"field": f"body.{field}", "reason": reason}]
    with Session(engine) as s:
        assert s.exec(select(FindingVersion)).all() == []


def test_line_breaks_and_tabs_in_a_description_are_kept(engine: sa.Engine) -> None:
    text = "第一行\r\n第二行\t（续）\n第三行"
    resp, code = _post(
        engine,
        {
            "result": "ordered_to_rectify",
            "check_date": "2026-12-10",
            "description": text,
            "measures": [{"kind": "rectify_now", "text": "当场整改：\n一、标志\n二、记录"}],
            "internal_note": "电话\t核实\r\n已复核",
        },
    )
    assert resp.status_code == 201, resp.text
    stored = service.history(engine, ROUND, code).versions[-1]
    assert stored.description == text
    assert stored.internal_note == "电话\t核实\r\n已复核"
    assert stored.measures[0]["text"] == "当场整改：\n一、标志\n二、记录"


def test_an_old_finding_with_control_characters_still_exports(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    other, other_team = sorted(teams.items())[1]
    final_finding(engine, code, team, description="正常")
    final_finding(engine, other, other_team, description="另一家")
    # as stored before the rule (PostgreSQL never held a NUL: the others only)
    old = "=从Word粘贴\u000b的第二行\u0007\n第三行\t完"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE finding_version SET description = :d WHERE finding_id = "
                "(SELECT id FROM finding WHERE round_key = :r AND credit_code = :c)"
            ),
            {"d": old, "r": ROUND, "c": code},
        )
    coordinator = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={coordinator}").status_code == 303
        xlsx = http.get(f"/w/c/rounds/{ROUND}/findings.xlsx")
        as_csv = http.get(f"/w/c/rounds/{ROUND}/findings.csv")
    assert xlsx.status_code == 200, xlsx.text
    assert as_csv.status_code == 200, as_csv.text

    wb = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    rows = list(wb.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    wb.close()
    by_code = {r[1]: r for r in rows[1:]}
    # each refused character shown as U+FFFD; the formula guard still applies; tab and line
    # break kept
    assert by_code[code][DESCRIPTION] == "'=从Word粘贴\ufffd的第二行\ufffd\n第三行\t完"
    assert by_code[other][DESCRIPTION] == "另一家"

    # the CSV is written as before: the stored text, only the formula guard's prefix before it
    read = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"), newline="")))
    assert read[0] == FINDINGS_HEADER
    csv_by_code = {r[1]: r for r in read[1:]}
    assert csv_by_code[code][DESCRIPTION] == "'" + old
    assert csv_by_code[other][DESCRIPTION] == "另一家"


def test_write_xlsx_replaces_what_openpyxl_refuses_and_keeps_the_formula_guard() -> None:
    buf = io.BytesIO()
    header = ["说明\u0000"]
    rows = [["=SUM(A1)\u000b"], ["\u0001=1+1"], ["a\tb\nc"], ["-1\u001f"], [42]]
    assert write_xlsx(buf, header, rows) == 5
    buf.seek(0)
    wb = openpyxl.load_workbook(buf)
    got = [r[0] for r in wb.active.iter_rows(values_only=True)]  # type: ignore[union-attr]
    wb.close()
    assert got == ["说明\ufffd", "'=SUM(A1)\ufffd", "\ufffd=1+1", "a\tb\nc", "'-1\ufffd", 42]
