"""申请调整 refused on the class page gives back what was typed: a reason pasted with an
invisible character (U+202E), or of spaces only, was refused on a page of its own with only
继续, the class chosen and the reason typed lost. Now the class page comes back (422) saying
why above its form, the class still chosen and the reason as typed, nothing recorded; corrected,
it is recorded. In Chromium at 390 px with JavaScript off, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.browser import PHONE, headless, phone
from tests.risk.test_override_pages import _overrides, bureau  # noqa: F401  (the fixture)
from tests.workspace.helpers import sign_in_page


def test_a_refused_override_gives_back_the_class_and_the_reason(
    bureau: tuple[str, dict[str, str], list[str]],  # noqa: F811
    engine: sa.Engine,
    tmp_path: Path,
) -> None:
    base, who, codes = bureau
    with headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, f"{base}/w/c/open?token={who['陈明']}")
        page.goto(f"{base}/w/c/risk/{codes[0]}")
        for typed, said in (("多次投诉\u202e复核", "理由：含有不可见字符（U+202E"),
                            ("   ", "理由：必填")):  # fmt: skip
            page.select_option("#risk_class", "C")
            page.fill("#reason", typed)
            page.locator("form", has=page.locator("#reason")).locator("button").click()
            page.wait_for_load_state()
            assert said in page.locator("#refused").inner_text(), page.content()[:2000]
            assert page.locator("#reason").input_value() == typed.strip()  # as it was read
            assert page.locator("#risk_class").input_value() == "C"
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.screenshot(path=str(tmp_path / f"refused-{len(typed)}.png"), full_page=True)
        assert _overrides(engine) == []
        page.fill("#reason", "多次投诉复核")
        page.locator("form", has=page.locator("#reason")).locator("button").click()
        page.wait_for_load_state()
        assert "已申请调整" in page.locator("#done").inner_text()
    (row,) = _overrides(engine)
    assert (row.risk_class, row.reason, row.requested_by) == ("C", "多次投诉复核", "陈明")
