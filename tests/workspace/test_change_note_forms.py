"""The enterprise page's 更换 and 延长/调整完成期限 forms hold their reason (理由, 原因) to the
rule of every reason a coordinator types (``rounds.service.check_texts``, a change's note at
most 500 characters) and say a refusal in the words every reason's field uses
(``workspace.forms.text_refused``, as 发起临时抽查's 原因): the character refused named
(含有不可见字符（U+202E…）, where the forms said only 含有不可见字符), and the length with
how long it was (过长，最多 500 个字（现为 N 个字）), counted whole (the forms cut the text at
1,000 characters before the service counted it). Nothing recorded; the form kept. Over real
HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds.models import DueChange
from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of
from tests.workspace.test_hostile_redate_forms import _nothing_recorded, _section

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CASES = [
    ("停产\u202e整顿",
     "含有不可见字符（U+202E，如文字方向控制符或零宽字符，多为粘贴带入），请删去后重新填写"),
    ("停产\x07整顿", "含有不可见的控制字符（U+0007，多为从其他软件粘贴带入），请删去后重新填写"),
    ("停" * 501, "过长，最多 500 个字（现为 501 个字）"),
    ("停" * 1500, "过长，最多 500 个字（现为 1500 个字）"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "said"), CASES, ids=["rlo", "bel", "501", "1500"])
@pytest.mark.parametrize("form", ["replace", "redate"])
def test_a_change_s_reason_is_refused_as_every_reason_is(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, form: str, text: str, said: str
) -> None:
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    fields = {"inspector_id": team[1], "cause": "left", "note": text} if form == "replace" else {
        "due_on": "2027-01-22", "reason": text}  # fmt: skip
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        r = http.post(f"{page}/{form}", headers=FORM, data={"csrf": csrf, **fields})
    assert r.status_code == 422, r.text[:500]
    label = "理由" if form == "replace" else "原因"
    assert f"{label}：{said}。" in _section(r.text, f"{form}-refused")
    assert "<form" in _section(r.text, form)  # the form again
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
