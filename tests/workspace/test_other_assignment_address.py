"""An assignment's address opened in a browser whose inspector session is for another one
(a colleague's link pasted, an address edited). The page said "没有有效的会话……如果刚刚打开过，
请点击“继续”", and 继续 led back to the same address and the same refusal. Now it says what is
true: this address is another assignment's, each opens by its own link; and its 继续 goes to
the assignment the browser does hold (over TLS every assignment's cookie is sent, each named
for its page); with none held (on http only a page's own cookie is sent), no 继续 at all.
In Chromium at 390 px, JavaScript off; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.browser import PHONE, headless
from tests.findings.factories import ROUND
from tests.workspace.helpers import delivered_round, outbox_link, sign_in_page
from tests.workspace.test_host_cookie import _phone, _served
from workspace.guards import NO_SESSION, page_path


@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
def test_another_assignments_address_says_so_and_leads_to_the_own_one(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tls: bool
) -> None:
    teams = delivered_round(engine, monkeypatch)
    (mine, team), (other, _) = sorted(teams.items())[:2]
    with _served(engine, tmp_path if tls else None) as base, headless() as browser:
        page = _phone(browser, tls=tls).new_page()
        sign_in_page(page, outbox_link(mine, team[0], base))
        answer = page.goto(base + page_path(ROUND, other))
        assert answer is not None and answer.status == 401
        said = page.locator("[role=alert]").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        onward = page.get_by_role("link", name="继续")
        if not tls:  # the browser sends no session here: nowhere to go but the notice
            assert NO_SESSION in said and "继续" not in said, said
            assert onward.count() == 0
            return
        assert f"另一项检查任务（{ROUND} {other}）" in said and mine in said, said
        assert onward.get_attribute("href") == page_path(ROUND, mine)
        onward.click()
        page.wait_for_load_state()
        assert page.url == base + page_path(ROUND, mine)
        assert page.get_by_label("检查情况").is_visible()
