"""A lead's decision refused for what was typed keeps what was typed (``/w/c/leads/{id}``, over
real HTTP; SQLite and PostgreSQL). A coordinator rejecting a lead with a reason pasted from a
chat (a zero-width space in it) was refused on a page of its own whose 继续 opened the lead's
page with the form empty: the reason was lost, to be typed again; so was an acceptance's or a
merge's. Now the lead's page comes back (422) with the refusal above the form that was sent and
its fields as typed (the check item chosen, the lead merged into, the reason), the other forms
left empty, nothing decided. In Chromium at 390 px with JavaScript off."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa

from leads import service
from leads.models import LeadStatus
from tests.browser import PHONE, headless, phone
from tests.workspace import test_leads_pages
from tests.workspace.helpers import csrf_of, sign_in_page
from tests.workspace.test_leads_pages import Desk, _lead, _registered

desk = test_leads_pages.desk  # a registry, plans, a coordinator and the app (the fixture)

PASTED = "经核查\u200b该企业已注销，无法检查"  # a zero-width space from a chat


def _field(page: str, element: str) -> str:
    """The value an ``<input id=element>`` is given on ``page``."""
    tag = re.search(rf'<input id="{element}"[^>]*>', page)
    assert tag, element
    value = re.search(r'value="([^"]*)"', tag[0])
    return html.unescape(value[1]) if value else ""


def test_a_refused_reject_reason_comes_back_as_typed(desk: Desk, engine: sa.Engine) -> None:
    lead = _lead(engine, _registered(engine))
    with headless() as browser:
        tab = phone(browser).new_page()  # JavaScript off
        sign_in_page(tab, f"{desk.base}/w/c/open?token={desk.token}")
        tab.goto(f"{desk.base}/w/c/leads/{lead}")
        tab.fill("#reject_reason", PASTED)
        with tab.expect_navigation():
            tab.get_by_role("button", name="不予受理").click()
        assert tab.locator("#refused").count() == 1, tab.content()[-1500:]
        refused = tab.locator("#reject #refused").inner_text()
        assert "含有" in refused and "U+200B" in refused, refused
        assert "填写的内容已保留在下方" in refused
        assert tab.locator("#reject_reason").input_value() == PASTED  # not lost
        assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert service.get(engine, lead).status is LeadStatus.received  # nothing decided
        tab.fill("#reject_reason", PASTED.replace("\u200b", ""))
        with tab.expect_navigation():
            tab.get_by_role("button", name="不予受理").click()
    assert service.get(engine, lead).status is LeadStatus.rejected


def test_an_acceptance_and_a_merge_refused_keep_their_fields(desk: Desk, engine: sa.Engine) -> None:
    code = _registered(engine)
    lead, other = _lead(engine, code), _lead(engine, code, category="证书过期")
    with desk.signed_in() as http:
        page = f"/w/c/leads/{lead}"
        csrf = csrf_of(http.get(page).text)
        reason = "来电复核\u202e属实"
        r = http.post(f"{page}/accept", data={"csrf": csrf, "check_item": "CCC-01",
                                              "reason": reason})  # fmt: skip
        assert r.status_code == 422, r.text[-600:]
        assert 'id="refused"' in r.text.split('id="accept"', 1)[1].split("<form", 1)[0]
        assert _field(r.text, "accept_reason") == reason
        assert '<option value="CCC-01" selected>' in r.text
        assert _field(r.text, "reject_reason") == "" and _field(r.text, "merge_reason") == ""
        long = "长" * 10_000 + "\u200b"
        r = http.post(f"{page}/merge", data={"csrf": csrf, "into": str(other), "reason": long})
        assert r.status_code == 422, r.text[-600:]
        assert _field(r.text, "merge_reason") == "长" * 2000  # twice the bound
        assert f'<option value="{other}" selected>' in r.text
        assert r.text.count('id="refused"') == 1
    assert service.get(engine, lead).status is LeadStatus.received
    assert service.get(engine, other).status is LeadStatus.received
