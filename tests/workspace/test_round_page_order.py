"""A round's page on a coordinator's phone puts first what needs doing: the checks waiting for a
signature and the late ones come before the list of every enterprise, and the strata (one row
per division and risk class: 36 for a province's round), which nobody acts on, come last. A
line of links near the top reaches each part. In Chromium at 390 px with JavaScript off, over
real HTTP, both databases."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.workspace.helpers import final_and_waiting, sign_in_page

PARTS = ["signoff-queue", "late", "enterprises", "delivery", "exports", "import", "strata"]


def test_what_needs_doing_comes_before_the_lists(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, teams, ssc = coordinator_live
    final_and_waiting(engine, teams)
    with headless() as browser:
        context = phone(browser)
        page = context.new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/rounds/{ROUND}")
        page.screenshot(path=tmp_path / "round.png", full_page=True)
        tops = {part: page.locator(f"#{part}").bounding_box()["y"] for part in PARTS}  # type: ignore[index]
        assert sorted(PARTS, key=tops.__getitem__) == PARTS, tops
        # the queue is on the first screens, not after every enterprise's row
        assert tops["signoff-queue"] < 2 * PHONE["height"], tops
        jumps = page.locator('nav[aria-label="本页"] a')
        hrefs = [jumps.nth(i).get_attribute("href") for i in range(jumps.count())]
        assert hrefs == [f"#{part}" for part in PARTS]  # in the page's order
        assert "待签字 1" in page.locator('nav[aria-label="本页"]').inner_text()
        jumps.filter(has_text="分层抽取").click()
        assert page.url.endswith("#strata")
        context.close()
