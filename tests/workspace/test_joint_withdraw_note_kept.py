"""A joint round's withdrawal refused for its note keeps the note (``/w/c/joint/{key}``; three
bureaus served on loopback, SQLite and PostgreSQL). A coordinator who pasted the reason from a
chat (a zero-width space in it) was refused on a page of its own whose 继续 opened the round's
page with the form empty: what they had written was lost, to be typed again. Now the round's
page comes back (422) with the refusal above the form and the note as typed, nothing recorded;
a note of 10,000 characters (a script) is given back cut at twice the bound. In Chromium at
390 px with JavaScript off."""

from __future__ import annotations

import html
import re

import httpx
from sqlmodel import Session

from api import tokens
from joint.models import JointRound
from tests.browser import headless, phone
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, Trio
from tests.workspace.helpers import sign_in, sign_in_page
from tests.workspace.test_every_page_fits import MEASURE, _fits

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
PASTED = "计划有误：合作局\u200b已失联，经科务会决定撤回"  # a zero-width space from a chat


def _status(trio: Trio, key: str) -> str:
    with Session(trio.b[FJ].engine) as s:
        row = s.get(JointRound, key)
        assert row is not None
        return row.status


def test_a_refused_note_comes_back_as_typed_and_then_withdraws(trio: Trio) -> None:
    trio.commit("jt-kept")
    base = trio.b[FJ].base_url
    ssc = tokens.create_coordinator(trio.b[FJ].engine, "手机协调员", FJ)
    with headless() as browser:
        tab = phone(browser).new_page()
        sign_in_page(tab, f"{base}/w/c/open?token={ssc}")
        tab.goto(f"{base}/w/c/joint/jt-kept")
        tab.fill("#note", PASTED)
        with tab.expect_navigation():
            tab.get_by_role("button", name="撤回本轮").click()
        refused = tab.locator("#refused").inner_text()
        assert "撤回理由：含有不可见或控制字符 U+200B" in refused, refused
        assert "填写的内容已保留在下方" in refused
        assert tab.locator("#note").input_value() == PASTED  # not lost
        assert _status(trio, "jt-kept") == "committed"  # nothing recorded
        _fits({"refused": tab.evaluate(MEASURE)})
        tab.fill("#note", PASTED.replace("\u200b", ""))
        with tab.expect_navigation():
            tab.get_by_role("button", name="撤回本轮").click()
        assert "已撤回：本局随机数已删除" in tab.locator("#done").inner_text()
    assert _status(trio, "jt-kept") == "withdrawn"


def test_a_note_of_ten_thousand_characters_is_refused_and_given_back_cut(trio: Trio) -> None:
    trio.commit("jt-long")
    base = trio.b[FJ].base_url
    ssc = tokens.create_coordinator(trio.b[FJ].engine, "协调员", FJ)
    with httpx.Client(base_url=base, headers={"Origin": base}) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        page = http.get("/w/c/joint/jt-long")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text
        note = "长" * 10_000 + "\u202e"
        r = http.post("/w/c/joint/jt-long/withdraw", data={"csrf": csrf[1], "note": note})
        assert r.status_code == 422, r.text[-800:]
        assert "撤回理由：共 10001 字，最多 500 字" in html.unescape(r.text)
        typed = r.text.split('name="note"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
        assert typed == "长" * 1000
    assert _status(trio, "jt-long") == "committed"
