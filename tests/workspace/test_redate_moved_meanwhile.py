"""Two 延期 of one check at once (workspace/redates.py, rounds/redates.py): two coordinators, or
two tabs, each sending the enterprise page's form against the date the page showed. Before,
both were recorded in turn and both told it worked: the second overrode a date its sender never
saw. The form now carries the date it showed (hidden ``shown_due_on``); the service moves the
date only if it still is, in the transaction that holds the round's lock, and the page says the
date in force and who set it, in Chinese, with the form as it was sent and nothing written.

Over real HTTP on SQLite and PostgreSQL: a colleague's 延期 between the page's display and its
form, and two tabs sent one after the other; on PostgreSQL also both sent at once, the first
held at its insert of the change's row while the second is seen waiting for its lock
(``tests.rounds.test_due_dates_at_once.one_after_the_other``)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from rounds.models import Assignment, DueChange
from rounds.redates import move_due_date
from tests.findings.factories import ROUND
from tests.rounds.test_due_dates_at_once import one_after_the_other, postgres_only
from tests.workspace.helpers import COORDINATOR, coordinator_client, csrf_of

END = "2026-12-31"  # the test round's window's last day: every check's date as drawn
FIRST, SECOND = "2027-01-20", "2027-02-10"  # the pinned today (tests/conftest.py) is 2026-12-07


def _section(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]


def _stored(engine: sa.Engine) -> list[tuple[int, str, str, str]]:
    with Session(engine) as s:
        rows = s.exec(select(DueChange).order_by(col(DueChange.n))).all()
        return [(r.n, r.old_due_on.isoformat(), r.due_on.isoformat(), r.recorded_by) for r in rows]


def _dues(engine: sa.Engine, code: str) -> set[str]:
    with Session(engine) as s:
        got = s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all()
    return {d.isoformat() for d in got}


def _form(html: str, due_on: str, reason: str) -> dict[str, str]:
    """The page's 延期 form filled in: its CSRF token and hidden date as the page wrote them."""
    redate = _section(html, "redate")
    shown = redate.split('name="shown_due_on" value="', 1)[1].split('"', 1)[0]
    return {"csrf": csrf_of(html), "shown_due_on": shown, "due_on": due_on, "reason": reason}


def test_a_date_moved_by_a_colleague_since_the_page_was_shown_is_not_overridden(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        shown = http.get(page)
        move_due_date(engine, ROUND, code, due_on=dt.date.fromisoformat(FIRST),
                      reason="企业停产整顿", recorded_by="王协调")  # fmt: skip
        sent = _form(shown.text, SECOND, "等待检测报告")
        refused = http.post(f"{page}/redate", data=sent)
        again = http.post(f"{page}/redate", data=_form(refused.text, SECOND, "等待检测报告"))
    assert sent["shown_due_on"] == END
    assert refused.status_code == 409, refused.text
    said = _section(refused.text, "redate-refused")
    assert f"本页面当时显示 {END}" in said and f"已由协调员 王协调 改为 {FIRST}" in said, said
    assert "本次调整未作更改" in said
    form = _section(refused.text, "redate")
    assert f'value="{SECOND}"' in form and ">等待检测报告</textarea>" in form  # kept as sent
    assert f"现在的完成期限：{FIRST}" in form  # the page shows the date in force now
    assert f'name="shown_due_on" value="{FIRST}"' in form  # and sends it next time
    # sent again from the page that named the date in force: the sender has seen it
    assert again.status_code == 303, again.text
    assert _stored(engine) == [(1, END, FIRST, "王协调"), (2, FIRST, SECOND, COORDINATOR)]
    assert _dues(engine, code) == {SECOND}


def test_two_tabs_sent_one_after_the_other_record_the_first_only(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        tab_one, tab_two = http.get(page), http.get(page)
        one = http.post(f"{page}/redate", data=_form(tab_one.text, FIRST, "企业停产整顿"))
        two = http.post(f"{page}/redate", data=_form(tab_two.text, SECOND, "等待检测报告"))
    assert one.status_code == 303, one.text
    assert two.status_code == 409, two.text
    said = _section(two.text, "redate-refused")
    assert f"已由协调员 {COORDINATOR} 改为 {FIRST}" in said, said
    assert _stored(engine) == [(1, END, FIRST, COORDINATOR)]
    assert _dues(engine, code) == {FIRST}


def test_a_hidden_date_not_written_by_the_page_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        sent = _form(http.get(page).text, FIRST, "企业停产整顿")
        bad = http.post(f"{page}/redate", data=sent | {"shown_due_on": "2026-13-01"})
        twice = http.post(
            f"{page}/redate",
            content=urlencode(list(sent.items()) + [("shown_due_on", FIRST)]).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert bad.status_code == 422 and "表单中的现在的完成期限有误" in bad.text
    assert twice.status_code == 422 and "现在的完成期限：表单中填写了不止一次" in twice.text
    assert _stored(engine) == []


def test_a_form_without_the_shown_date_moves_the_date_as_before(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """A page opened before the form carried the date (a tab left open over an upgrade)."""
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        sent = _form(http.get(page).text, FIRST, "企业停产整顿")
        del sent["shown_due_on"]
        done = http.post(f"{page}/redate", data=sent)
    assert done.status_code == 303, done.text
    assert _stored(engine) == [(1, END, FIRST, COORDINATOR)]


def test_two_tabs_sent_at_once_record_the_first_and_refuse_the_second(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    postgres_only(engine)
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc, timeout=60) as http:
        tab_one, tab_two = http.get(page), http.get(page)

        def post(html: str, due_on: str) -> httpx.Response:
            return http.post(f"{page}/redate", data=_form(html, due_on, "企业停业"))

        one, two = one_after_the_other(engine, "due_change", lambda: post(tab_one.text, FIRST),
                                       lambda: post(tab_two.text, SECOND))  # fmt: skip
    assert one.status_code == 303, one.text
    assert two.status_code == 409, two.text
    assert f"已由协调员 {COORDINATOR} 改为 {FIRST}" in _section(two.text, "redate-refused")
    assert _stored(engine) == [(1, END, FIRST, COORDINATOR)]
    assert _dues(engine, code) == {FIRST}


def test_the_same_form_sent_twice_is_done_once_and_told_so_twice(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """A second press of 提交 (or the form sent again after its answer was lost): the date it
    asks is in force, moved from the date it showed by this coordinator with this reason.
    Before, it was refused as if a colleague had moved the date meanwhile (409). A form asking
    the same date with another reason is still refused: that is not the same request."""
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        sent = _form(http.get(page).text, FIRST, "企业停产整顿")
        one = http.post(f"{page}/redate", data=sent)
        two = http.post(f"{page}/redate", data=sent)
        other = http.post(f"{page}/redate", data=sent | {"reason": "等待检测报告"})
        shown = http.get(two.headers["location"])
    assert one.status_code == two.status_code == 303, two.text
    assert one.headers["location"] == two.headers["location"]
    assert two.headers["location"].endswith("?redated=1#redate")
    assert other.status_code == 409, other.text
    assert f"已由协调员 {COORDINATOR} 改为 {FIRST}" in _section(other.text, "redate-refused")
    assert _stored(engine) == [(1, END, FIRST, COORDINATOR)]
    assert _dues(engine, code) == {FIRST}
    assert FIRST in shown.text and "企业停产整顿" in shown.text
