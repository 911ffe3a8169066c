"""The coordinator's 更换 form carries the date the page showed (hidden ``shown_due_on``): a
replacement giving a new date after a colleague's 延期 is refused (409), the page naming the
date in force and who set it, the member kept (``rounds.replacements.DueMoved``; the service's
and the API's tests: tests/api/test_replacement_expected_date.py). Over real HTTP, both
databases."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, select

from rounds.models import Assignment, TeamChange
from rounds.redates import move_due_date
from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of

END = dt.date(2026, 12, 31)  # the test round's window's last day
MOVED, GIVEN = dt.date(2027, 2, 1), dt.date(2027, 1, 10)  # the pinned today is 2026-12-07


def _changes(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(TeamChange)).all())


def _dues(engine: sa.Engine, code: str) -> set[dt.date]:
    with Session(engine) as s:
        return set(s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all())


def test_the_page_says_who_moved_it_and_keeps_the_member(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        shown = http.get(page).text
        move_due_date(engine, ROUND, code, due_on=MOVED, reason="企业停产至二月",
                      recorded_by="王协调")  # fmt: skip
        form = shown.split('action="' + page + '/replace"', 1)[1].split("</form>", 1)[0]
        hidden = form.split('name="shown_due_on" value="', 1)[1].split('"', 1)[0]
        sent = {"csrf": csrf_of(shown), "inspector_id": drawn[code][1], "cause": "left",
                "note": "调离", "due_on": GIVEN.isoformat(), "shown_due_on": hidden}  # fmt: skip
        refused = http.post(f"{page}/replace", data=sent)
    assert hidden == END.isoformat()
    assert refused.status_code == 409, refused.text
    said = refused.text.split('id="replace-refused"', 1)[1].split("</section>", 1)[0]
    assert f"本页面当时显示 {END}" in said and f"已由协调员 王协调 改为 {MOVED}" in said, said
    assert "本次更换未作更改" in said and "仍在检查组中" in said
    assert _changes(engine) == 0 and _dues(engine, code) == {MOVED}
