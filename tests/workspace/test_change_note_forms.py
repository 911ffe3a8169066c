"""The enterprise page's 更换 and 延长/调整完成期限 forms hold their reason (理由, 原因) to the
rule of every reason a coordinator types (``rounds.service.check_texts``, a change's note at
most 500 characters) and say a refusal in the words every reason's field uses
(``workspace.forms.text_refused``, as 发起临时抽查's 原因): the character refused named
(含有不可见字符（U+202E…）, where the forms said only 含有不可见字符), and the length with
how long it was (过长，最多 500 个字（现为 N 个字）), counted whole (the forms cut the text at
1,000 characters before the service counted it). Nothing recorded; the form kept. Over real
HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds.models import Assignment, DueChange, TeamChange
from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CASES = [
    ("停产\u202e整顿",
     "含有不可见字符（U+202E，如文字方向控制符或零宽字符，多为粘贴带入），请删去后重新填写"),
    ("停产\x07整顿", "含有不可见的控制字符（U+0007，多为从其他软件粘贴带入），请删去后重新填写"),
    ("停" * 501, "过长，最多 500 个字（现为 501 个字）"),
    ("停" * 1500, "过长，最多 500 个字（现为 1500 个字）"),
]  # fmt: skip


def _section(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]


def _nothing_recorded(engine: sa.Engine, code: str, team: list[str]) -> None:
    with Session(engine) as s:
        assert s.exec(select(DueChange)).all() == []
        assert s.exec(select(TeamChange)).all() == []
        seats = s.exec(select(Assignment).where(Assignment.credit_code == code)).all()
    assert sorted(a.inspector_id for a in seats) == sorted(team)
    assert {a.due_on for a in seats} == {dt.date(2026, 12, 31)}


@pytest.mark.parametrize(("note", "said"), CASES, ids=["rlo", "bel", "501", "1500"])
def test_a_withdrawal_s_reason_is_refused_as_every_reason_is(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, note: str, said: str
) -> None:
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        r = http.post(f"{page}/replace", headers=FORM, data={
            "csrf": csrf, "inspector_id": team[1], "cause": "left", "note": note})  # fmt: skip
    assert r.status_code == 422, r.text[:500]
    assert f"理由：{said}。" in _section(r.text, "replace-refused")
    assert "<form" in _section(r.text, "replace")  # the form again
    _nothing_recorded(engine, code, team)


@pytest.mark.parametrize(("reason", "said"), CASES, ids=["rlo", "bel", "501", "1500"])
def test_a_new_date_s_reason_is_refused_as_every_reason_is(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, reason: str, said: str
) -> None:
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        r = http.post(f"{page}/redate", headers=FORM, data={
            "csrf": csrf, "due_on": "2027-01-22", "reason": reason})  # fmt: skip
    assert r.status_code == 422, r.text[:500]
    assert f"原因：{said}。" in _section(r.text, "redate-refused")
    assert "<form" in _section(r.text, "redate")
    _nothing_recorded(engine, code, team)


def test_a_reason_of_500_characters_with_line_breaks_is_recorded(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code, _ = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    reason = ("企业停产整顿\n" * 72)[:499] + "。"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        r = http.post(f"{page}/redate", headers=FORM, data={
            "csrf": csrf, "due_on": "2027-01-22", "reason": reason})  # fmt: skip
    assert r.status_code == 303, r.text[:500]
    with Session(engine) as s:
        assert [c.reason for c in s.exec(select(DueChange))] == [reason]
