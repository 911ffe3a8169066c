"""A form refused before anything of it was saved says so, and only so.

* A tab left open before the notice's link was opened again (a new session): its 保存草稿 is
  refused (403, the form's token is the older session's) and the page gives the text back to
  send again, saying 未保存, but the banner under it went on 已填写的内容已保存为草稿: an
  inspector who believed it and closed the tab lost what they typed. Now the banner is headed
  未保存 and says nothing of a draft; the next 保存草稿 saves it. In Chromium at 390 px with
  JavaScript off, over a real server.
* A post to 签字确认 with a file in it (a script's; the page sends none) left the file's spool
  open after the answer (Python's warning of an unclosed file, an error under the tests'
  ``filterwarnings``): the sign-off's form is now closed however the answer ends.

Both databases."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from findings import service
from shuangsui.config import get_settings
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.workspace.helpers import (
    csrf_of,
    on_a_phone_page,
    open_assignment,
    outbox_link,
    sign_in_page,
)
from workspace import drafts

TYPED = "旧标签页里写的检查情况"


@pytest.mark.slow
def test_an_older_tabs_refused_save_never_says_it_was_saved(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with on_a_phone_page(engine, monkeypatch) as (older, code, (a, _b)):
        again = outbox_link(code, a, older.url.split("/w/")[0])
        sign_in_page(older.context.new_page(), again)  # the link opened again: a new session
        older.get_by_label("检查情况").fill(TYPED)
        older.get_by_role("button", name="保存草稿").click()
        older.wait_for_load_state()
        banner = older.locator("#errors").inner_text()
        assert banner.startswith("未保存") and "较早打开的页面" in banner, banner
        assert "已保存为草稿" not in older.locator("main").inner_text()
        assert older.get_by_label("检查情况").input_value() == TYPED  # given back
        assert older.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        older.screenshot(path=str(tmp_path / "1-older-tab.png"), full_page=True)
        assert drafts.load(get_settings().home, ROUND, code, a) == {}  # as said: not saved

        older.get_by_role("button", name="保存草稿").click()  # as the page says
        older.wait_for_url("**?saved=1")
    assert drafts.load(get_settings().home, ROUND, code, a)["description"] == TYPED


def test_a_sign_off_posted_with_a_file_closes_it(live: tuple[str, dict], engine: sa.Engine) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        for version in ("1", "x"):  # no version yet (404); not a number (422)
            photo = {"photo": ("a.jpg", b"\xff\xd8\xff" * 100, "image/jpeg")}
            form = {"csrf": csrf_of(html), "version": version}
            r = http.post(f"{path}/sign", data=form, files=photo)
            assert r.status_code in (404, 422), r.text[:300]
    gc.collect()  # an unclosed spool is said here (filterwarnings = error)
    assert service.history(engine, ROUND, code).versions == []
