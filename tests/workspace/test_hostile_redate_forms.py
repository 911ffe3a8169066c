"""Hostile posts of the enterprise page's 延长/调整完成期限 and 更换 forms (workspace/redates.py,
workspace/replacements.py), over real HTTP: a field sent twice was taken as its last value
(``due_on`` twice moved the check to the second date; ``inspector_id`` twice withdrew the
second member named), and a date typed ``20270129`` or ``2027-W05-1`` was read as a day (the
second, the Monday of week 5). Each is now refused with the form kept, a Chinese sentence
naming the field, and nothing recorded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds.models import Assignment, DueChange, TeamChange
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of, sign_in_page

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _section(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]


def _nothing_recorded(engine: sa.Engine, code: str, team: list[str]) -> None:
    with Session(engine) as s:
        assert s.exec(select(DueChange)).all() == []
        assert s.exec(select(TeamChange)).all() == []
        seats = s.exec(select(Assignment).where(Assignment.credit_code == code)).all()
    assert sorted(a.inspector_id for a in seats) == sorted(team)
    assert {a.due_on for a in seats} == {dt.date(2026, 12, 31)}


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ("due_on=2027-01-22&due_on=2027-02-22&reason=停产", "新的完成期限：表单中填写了不止一次"),
        ("due_on=2027-01-22&reason=停产&reason=整顿", "原因：表单中填写了不止一次"),
    ],
)
def test_a_redate_field_sent_twice_is_refused_and_the_form_kept(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, fields: str, said: str
) -> None:
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        r = http.post(f"{page}/redate", content=f"csrf={csrf}&{fields}".encode(), headers=FORM)
    assert r.status_code == 422, r.text[:500]
    assert said in _section(r.text, "redate-refused")
    assert "<form" in _section(r.text, "redate")  # the form again, to send once
    _nothing_recorded(engine, code, team)


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ("inspector_id={first}&inspector_id={second}&cause=left&note=调离",
         "执法人员：表单中填写了不止一次"),
        ("inspector_id={second}&cause=conflict&cause=left&note=调离",
         "更换原因：表单中填写了不止一次"),
    ],
)  # fmt: skip
def test_a_replacement_field_sent_twice_is_refused_and_the_form_kept(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, fields: str, said: str
) -> None:
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    body = fields.format(first=team[0], second=team[1])
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        r = http.post(f"{page}/replace", content=f"csrf={csrf}&{body}".encode(), headers=FORM)
    assert r.status_code == 422, r.text[:500]
    assert said in _section(r.text, "replace-refused")
    _nothing_recorded(engine, code, team)


@pytest.mark.parametrize("typed", ["20270129", "2027-W05-1"])
def test_a_date_is_typed_year_month_day(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, typed: str
) -> None:
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        redate = http.post(f"{page}/redate",
                           data={"csrf": csrf, "due_on": typed, "reason": "停产"})  # fmt: skip
        replace = http.post(f"{page}/replace", data={"csrf": csrf, "inspector_id": team[1],
                                                     "cause": "left", "note": "调离",
                                                     "due_on": typed})  # fmt: skip
    assert redate.status_code == 422, redate.text[:500]
    assert "请按 年-月-日 填写日期" in _section(redate.text, "redate-refused")
    assert f'value="{typed}"' in _section(redate.text, "redate")  # kept as typed
    assert replace.status_code == 422, replace.text[:500]
    assert "请按 年-月-日 填写日期" in _section(replace.text, "replace-refused")
    _nothing_recorded(engine, code, team)


def test_a_file_sent_in_a_field_s_place_is_closed_with_the_answer(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file where the CSRF token, the date or the member belongs: the form is refused (403,
    422, 409) and the file's spooled copy closed before the answer, as the inspector's form
    closes its photos; it was left open until the request was collected."""
    spooled: list[SpooledTemporaryFile[bytes]] = []

    class Kept(SpooledTemporaryFile):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            spooled.append(self)

    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", Kept)
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        answers = [
            http.post(f"{page}/redate", data={"due_on": "2027-01-22", "reason": "停产"},
                      files={"csrf": ("csrf.txt", csrf.encode())}).status_code,
            http.post(f"{page}/redate", data={"csrf": csrf, "reason": "停产"},
                      files={"due_on": ("due.txt", b"2027-01-22")}).status_code,
            http.post(f"{page}/replace", data={"csrf": csrf, "cause": "left", "note": "调离"},
                      files={"inspector_id": ("who.txt", team[1].encode())}),
        ]  # fmt: skip
    said = answers[2].text  # the member read as empty: not named by an empty name
    assert [*answers[:2], answers[2].status_code] == [403, 422, 409]
    assert "所选人员 已不在该企业的检查组中" in said and "> 已不在" not in said
    assert len(spooled) == 3 and [f.closed for f in spooled] == [True] * 3
    _nothing_recorded(engine, code, team)


def test_the_refusal_pages_fit_a_phone_without_javascript(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    """At 390 px, JavaScript off: a field sent twice, an unknown member of 64 characters and a
    round key of 64 (the longest a refusal quotes) each answer a refusal as wide as the
    phone. An unbroken 64-character word in a banner widened the page to 672 px."""
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page_of = f"{base}/w/c/rounds/{ROUND}/e/{code}"
    seen = {}
    with headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")

        def shown(name: str) -> None:
            page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
            alert = page.locator("[role=alert]").first.inner_text()
            seen[name] = (alert, page.evaluate("document.documentElement.scrollWidth"))

        page.goto(page_of)
        redate = page.locator("#redate form")
        redate.evaluate(ADD_HIDDEN, ["due_on", "2027-03-01"])
        redate.get_by_label("新的完成期限（今天至一年内）").fill("2027-01-22")
        redate.get_by_label("原因（记入审计日志）").fill("企业停产")
        redate.get_by_role("button", name="调整完成期限").click()
        shown("twice")
        page.goto(page_of)
        withdraw = page.locator("#replace form").first
        withdraw.locator("input[name=inspector_id]").evaluate("e => e.value = 'Z'.repeat(64)")
        page.locator("#replace details").first.evaluate("d => d.open = true")
        withdraw.locator("input[name=cause][value=left]").check()
        withdraw.locator("textarea[name=note]").fill("调离")
        withdraw.get_by_role("button").click()
        shown("stranger")
        page.goto(page_of)
        redate = page.locator("#redate form")
        redate.evaluate("(f, to) => f.action = to", f"/w/c/rounds/{'x' * 64}/e/{code}/redate")
        redate.get_by_label("新的完成期限（今天至一年内）").fill("2027-01-22")
        redate.get_by_label("原因（记入审计日志）").fill("企业停产")
        redate.get_by_role("button", name="调整完成期限").click()
        shown("no-round")
    assert "新的完成期限：表单中填写了不止一次" in seen["twice"][0]
    assert "Z" * 64 in seen["stranger"][0] and "已不在该企业的检查组中" in seen["stranger"][0]
    assert "x" * 64 in seen["no-round"][0]
    assert {name: width for name, (_, width) in seen.items()} == dict.fromkeys(seen, PHONE["width"])
    _nothing_recorded(engine, code, team)


# a hidden field added to a form (Playwright's own script: the page's JavaScript stays off)
ADD_HIDDEN = """(f, [name, value]) => {
  const i = document.createElement('input');
  i.type = 'hidden'; i.name = name; i.value = value; f.appendChild(i);
}"""
