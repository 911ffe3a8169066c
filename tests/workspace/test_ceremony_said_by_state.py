"""A round waiting for its ceremony, opened by a link that ends ``?ceremony=1`` (the address the
ceremony's form leads to, copied or sent by someone) when no ceremony was entered, said
已提交仪式数字，摇号进行中；稍后刷新本页 above the ceremony's form: a link could tell the
coordinator that the draw was under way when nothing was. Now what the page says of a ceremony
comes from the round's state alone (a ceremony holding it, or one that ended), as the
ceremony's form leads to a page whose ceremony holds the round. In Chromium at 390 px,
JavaScript on and off; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.api.test_ceremony_hold import KEY, _committed
from tests.browser import PHONE, headless, phone
from tests.findings.live import serve
from tests.workspace.helpers import sign_in_page


@pytest.mark.parametrize("javascript", [False, True])
def test_a_link_cannot_say_a_ceremony_was_entered(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, javascript: bool
) -> None:
    _committed(engine, tmp_path, monkeypatch)
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, headless() as browser:
        page = phone(browser, javascript=javascript).new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        for address in (f"/w/c/rounds/{KEY}?ceremony=1", f"/w/c/rounds/{KEY}?ceremony=x"):
            answer = page.goto(base + address)
            assert answer is not None and answer.status == 200
            ceremony = page.locator("#ceremony").inner_text()
            assert "摇号仪式" in ceremony  # the form to enter it, as without the parameter
            assert "已提交仪式数字" not in ceremony and "摇号进行中" not in ceremony, ceremony
            assert page.locator("#ceremony form").count() == 1
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
