"""A correction's reason is shown on the round page as the coordinator typed it, its lines
kept (a line break was drawn as a space, the lines run together), and escaped: a reason that
looks like markup is shown as text. In headless Chromium at 390 px, JavaScript off; the
screenshot under the test's ``tmp_path``. The CSV and JSON keep the reason as they did."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from tests.browser import headless, phone
from tests.findings.factories import ROUND, drawn_round, final_finding
from tests.website.test_phone import _measure
from website.site import publish

REASON = "经复核：\r\n一、检查日期笔误；\n二、<script>alert(1)</script>结论改为其它情况。"
LINES = ["经复核：", "一、检查日期笔误；", "二、<script>alert(1)</script>结论改为其它情况。"]


def test_a_reasons_lines_are_shown_as_typed(engine: sa.Engine, tmp_path: Path) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code], result="no_problem")
    final_finding(engine, code, teams[code], result="other", reason=REASON)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    record = next(r for r in json.loads((out / "data" / f"{ROUND}.json").read_bytes())
                  if r["credit_code"] == code)  # fmt: skip
    assert record["corrections"][-1]["reason"] == REASON  # the JSON as typed

    with headless() as browser:
        page = phone(browser).new_page()
        page.goto((out / "rounds" / ROUND / "index.html").as_uri())
        row = page.locator(f"[id='e-{code}']")
        row.locator("details.history summary").click()
        item = row.locator("details.history li").last
        shown = item.inner_text()
        assert shown.endswith("更正原因：" + "\n".join(LINES)), shown
        assert item.locator("script").count() == 0  # text, not markup
        # each line begins on a line of its own: below the one before, at the item's left
        box = item.bounding_box()
        assert box is not None
        heights = page.evaluate(
            """(li) => { const r = document.createRange(); const text = li.firstChild;
                const at = (s) => { const i = text.data.indexOf(s);
                  r.setStart(text, i); r.setEnd(text, i + 1); return r.getBoundingClientRect(); };
                return [at("一、"), at("二、")].map((b) => [b.left, b.top]); }""",
            item.element_handle(),
        )
        (left1, top1), (left2, top2) = heights
        assert top2 > top1 and abs(left1 - box["x"]) < 2 and abs(left2 - box["x"]) < 2, heights
        _measure(page, tmp_path / "round-reason.png", times=False)
