"""Enterprise names as the registry may hold them, read on a 390 px phone in headless Chromium,
the site served over HTTP: a name in Arabic letters ending in digits (``شركة النور 12``), and a
name holding markup (``<script>…</script>``).

A search hit said the name, the credit code, the round and the result in one run of text, so
a right-to-left name ending in digits drew the code's leading digits into its own run: at
390 px the hit showed the code's first eight characters, then the name, then the rest of the
code 104 px further on. The name is now isolated (``<bdi>``): the code reads left to right,
whole. A name with markup is shown as its text, on the round page and in the hits, and runs
nothing (held, pinned). Screenshots under the test's ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from rounds import service
from tests.browser import headless, phone
from tests.findings.factories import ROUND, draw, final_finding
from tests.rounds.factories import plan_yaml, seed_registry
from tests.website.test_phone import _measure
from tests.website.test_search import served
from website.site import publish

MARKUP = "<script>alert(1)</script><b>电器</b>"

# each character of the code in the hit: (left, right, top) of its box, in the code's order
CODE_BOXES = """code => {
  const a = document.querySelector('#hits li a');
  const walker = document.createTreeWalker(a, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(code);
    if (at < 0) continue;
    const boxes = [];
    for (let i = at; i < at + code.length; i++) {
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      boxes.push([box.left, box.right, box.top]);
    }
    return boxes;
  }
  return null;
}"""


def _site(engine: sa.Engine, out: Path) -> tuple[str, str]:
    """A drawn round whose enterprises are named in Arabic letters or with markup, in turns,
    some with a result: (the code of one named in Arabic, of one with markup)."""
    codes = seed_registry(engine)
    with engine.begin() as conn:
        for i, code in enumerate(codes):
            name = f"شركة النور {i}" if i % 2 else f"{MARKUP}{i}"
            conn.execute(
                sa.text("UPDATE enterprise SET name = :n WHERE credit_code = :c"),
                {"n": name, "c": code},
            )
    service.commit_round(engine=engine, plan_text=plan_yaml())
    drawn = draw(engine)
    arabic = {codes[i] for i in range(1, len(codes), 2)}
    one = next(c for c in sorted(drawn) if c in arabic)
    other = next(c for c in sorted(drawn) if c not in arabic)
    for code in {one, other, *sorted(drawn)[:4]}:
        final_finding(engine, code, drawn[code], result="no_problem")
    publish(engine, out, bundles=False)
    return one, other


@pytest.mark.slow
def test_a_right_to_left_name_leaves_the_code_whole_and_markup_is_text(
    engine: sa.Engine, tmp_path: Path
) -> None:
    arabic, marked = _site(engine, tmp_path / "site")
    with served(tmp_path / "site") as url, headless() as browser:
        page = phone(browser, javascript=True).new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url + "search.html")
        status, hit = page.locator("#status"), page.locator("#hits li a").first

        page.locator("#q").fill(arabic)
        expect(status).to_have_text("找到 1 条。")
        expect(hit).to_contain_text(arabic)
        boxes = page.evaluate(CODE_BOXES, arabic)
        assert boxes, "the code is not in the hit"
        assert len({round(b[2]) for b in boxes}) == 1, boxes  # one line
        gaps = [round(b[0] - a[1], 1) for a, b in zip(boxes, boxes[1:], strict=False)]
        # each character right after the one before it: the code whole, left to right
        assert all(abs(gap) < 1 for gap in gaps), f"the code is cut: gaps {gaps}"
        page.locator("#hits").screenshot(path=str(tmp_path / "hit-arabic.png"))
        _measure(page, tmp_path / "search-arabic.png", times=False)

        page.locator("#q").fill(marked)
        expect(status).to_have_text("找到 1 条。")
        expect(hit).to_contain_text(MARKUP)  # the name's text, not markup
        expect(page.locator("#hits b")).to_have_count(0)
        hit.click()
        row = page.locator(f"#e-{marked}")
        expect(row.locator("td.name")).to_contain_text(MARKUP)
        expect(row.locator("td.name *")).to_have_count(0)  # no element made of the name
        assert dialogs == []

        nojs = phone(browser).new_page()
        nojs.goto(url + f"rounds/{ROUND}/index.html#e-{arabic}")
        expect(nojs.locator(f"#e-{arabic} code")).to_have_text(arabic)
        _measure(nojs, tmp_path / "round-nojs.png")
