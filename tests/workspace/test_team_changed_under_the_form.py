"""The team changed while an inspector filled the form in: a coordinator replaced their
teammate (回避) between the page's load and its 提交. The submit went through silently and
the new member was asked to sign a result the inspector thought their old teammate would
read. Now the submit still goes through (nothing typed is refused), and the page after it
says the team changed: who left, who joined, who now signs. A form whose team is the team now
says nothing of it. In Chromium at 390 px, JavaScript off; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from findings import service
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.workspace.helpers import fill_form, on_a_phone_page, replace_in_team


def test_a_submit_after_the_team_changed_says_who_now_signs(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with on_a_phone_page(engine, monkeypatch) as (page, code, team):
        fill_form(page)
        page.get_by_role("button", name="保存草稿").click()  # the team as shown: nothing said
        page.wait_for_load_state()
        assert page.locator("#team-changed").count() == 0
        seat = replace_in_team(engine, code, team[1])  # while the form is open
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_load_state()
        (state,) = service.history(engine, ROUND, code).states
        assert list(state.signed_by) == [team[0]] and list(state.missing) == [seat]
        said = page.locator("#team-changed").inner_text()
        assert "检查组已变更" in said, said
        assert f"（{team[1]}） 已不在检查组" in said and "由 " in said and seat in said, said
        assert "还需" in said and "签字确认" in said, said
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        here = page.url.split("?")[0]
        page.goto(here)  # the page opened again: the state says the rest
        assert page.locator("#team-changed").count() == 0
        page.goto(f"{here}?submitted=1&team={team[0]},{team[0]}X")  # an address edited: no
        assert page.locator("#team-changed").count() == 0  # withdrawal recorded, nothing said
