"""A lead's category (线索类别) is published: an accepted lead's enterprise is targeted with the
reason ``线索 N: <category>``, committed in the round's frame, which the public site's bundle
carries. The intake form said only 线索类别（例如 认证标志使用不规范）, while the reporter and the
allegation say they are never published: a coordinator typing 张三举报… as the category put a
name on the public site. Now the form says, beside the field, that the category is published
and that personal data belongs in the reporter and the allegation; the lead's page says it
too. In Chromium at 390 px with JavaScript off, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Session

from leads import service
from rounds import artifacts
from rounds import service as rounds
from tests.browser import headless, phone
from tests.rounds.factories import plan_yaml
from tests.workspace.helpers import sign_in_page
from tests.workspace.test_leads_pages import ME, Desk, _lead, _registered, desk  # noqa: F401

PUBLIC = "线索类别会公开"


def test_the_form_says_the_category_is_published_as_the_frame_publishes_it(
    desk: Desk,  # noqa: F811
    engine: sa.Engine,
) -> None:
    code = _registered(engine)
    lead = _lead(engine, code, category="无证生产")
    service.accept(engine, lead, check_item="CCC-01", by=ME)
    rnd = rounds.commit_round(engine=engine, plan_text=plan_yaml())
    with Session(engine) as session:
        frame = artifacts.artifact(session, rnd.round_key, "frame-enterprises.jsonl")
    (row,) = [r for r in map(json.loads, frame.splitlines()) if r["credit_code"] == code]
    assert f"线索 {lead}: 无证生产" in row["note"]  # what the hint says: published
    with headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, f"{desk.base}/w/c/open?token={desk.token}")
        page.goto(f"{desk.base}/w/c/leads/new")
        field = page.locator("#category")
        hint = page.locator(f"#{field.get_attribute('aria-describedby')}")
        said = hint.inner_text()
        assert PUBLIC in said and "个人信息" in said and "不公开" in said
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.goto(f"{desk.base}/w/c/leads/{lead}")
        assert "随抽查名录公开" in page.locator("#category-public").inner_text()
