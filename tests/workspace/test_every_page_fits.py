"""Every workspace page a coordinator or an inspector can reach by following links, opened in
a real Chromium on a 390 px phone with JavaScript off: it answers a page, nothing on it is
wider than the screen (a table or a ``pre`` too wide scrolls inside its own box), every field
has its label, and no date (with its time) is broken over two lines (Chromium breaks after a
date's hyphen: "2026-12-07 至 2026-" over "12-31"). The pages are found by following the
links, not listed here, so a page added later is held to the same. Screenshots of each under
the test's ``tmp_path``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from api import tokens
from findings.service import submit
from leads import service as leads
from leads.schemas import LeadIn
from risk import overrides
from shuangsui.config import get_settings
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND, final_finding, finding
from tests.workspace.helpers import outbox_link, sign_in_page

# What a page shows of itself, measured by the browser (Playwright measures in a world of its
# own: the page's JavaScript stays off).
MEASURE = """() => ({
  width: document.documentElement.scrollWidth,
  loose: [...document.querySelectorAll('pre, .scroll, table')]
    .filter(b => b.scrollWidth > b.clientWidth)
    .filter(b => !['auto', 'scroll', 'hidden'].includes(getComputedStyle(b).overflowX))
    .filter(b => !b.closest('.scroll'))
    .map(b => b.outerHTML.slice(0, 120)),
  unlabelled: [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(f => !(f.id && document.querySelector(`label[for="${f.id}"]`)) && !f.closest('label'))
    .map(f => f.outerHTML.slice(0, 120)),
  links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  split: (() => {  // a date (and its time) drawn on two lines
    const out = [], walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      for (const m of n.data.matchAll(/\\d{4}-\\d{2}-\\d{2}(?: \\d{2}:\\d{2}(?::\\d{2})?)?/g)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const lines = new Set([...r.getClientRects()].map(b => Math.round(b.bottom)));
        if (lines.size > 1) out.push(`${m[0]} in ${n.parentElement.outerHTML.slice(0, 100)}`);
      }
    }
    return out;
  })(),
})"""
# Links that are not pages: files to download, evidence, signing out.
NOT_A_PAGE = re.compile(r"\.(xlsx|csv|json|zip|txt|pdf)(\?|$)|/evidence/|/logout")
KIND = re.compile(r"[0-9A-Z]{18}|\d+")  # a credit code or a number: one kind of page
EACH = 2  # pages of one kind opened (the round's enterprises are alike)


def _crawl(page: Page, starts: list[str], base: str, shots: Path) -> dict[str, dict]:
    """Open ``starts`` and every workspace page linked from them, breadth first, at most
    ``EACH`` of a kind; what each showed by its path and query."""
    seen: dict[str, dict] = {}
    kinds: dict[str, int] = {}
    queue = list(starts)
    while queue:
        url = queue.pop(0)
        where = urlsplit(url)
        key = where.path + (f"?{where.query}" if where.query else "")
        kind = KIND.sub("#", where.path)
        if key in seen or kinds.get(kind, 0) >= EACH:
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        answer = page.goto(url)
        assert answer is not None and answer.status == 200, (key, answer and answer.status)
        body = page.content()
        assert "Traceback" not in body and "Internal Server Error" not in body, key
        page.screenshot(path=str(shots / f"{len(seen):02d}.png"), full_page=True)
        shown = seen[key] = page.evaluate(MEASURE)
        for href in shown["links"]:
            target = urljoin(page.url, href)
            if target.startswith(base + "/w/") and not NOT_A_PAGE.search(target):
                queue.append(target.split("#")[0])
    return seen


def _fits(seen: dict[str, dict]) -> None:
    for key, shown in seen.items():
        assert shown["width"] <= PHONE["width"], (key, shown["width"])
        assert shown["loose"] == [], (key, shown["loose"])
        assert shown["unlabelled"] == [], (key, shown["unlabelled"])
        assert shown["split"] == [], (key, shown["split"])


@pytest.mark.slow
def test_every_coordinator_and_inspector_page_fits_a_phone_without_javascript(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, teams, ssc = coordinator_live
    (done, done_team), (waiting, waiting_team), *_ = sorted(teams.items())
    # text as people and partners type it: long words with no break in them
    final_finding(engine, done, done_team, description="整改记录编号" + "0123456789" * 30,
                  internal_note="https://example.invalid/" + "x" * 300)  # fmt: skip
    submit(engine, round_key=ROUND, credit_code=waiting,
           data=finding(description="W" * 400, internal_note="内部" * 200),
           submitted_by=f"inspector:{waiting_team[0]}", signers=[waiting_team[0]])  # fmt: skip
    lead = {"source": "complaint", "credit_code": done, "category": "X" * 64,
            "received_on": "2026-11-02", "external_ref": "REF" + "0" * 60}  # fmt: skip
    leads.receive(engine, LeadIn.model_validate(lead), by="李协调")
    # the enterprise's risk page then says who asked for and approved its class, and when
    tokens.create_coordinator(engine, "王协调", get_settings().bureau_code)
    asked = overrides.request(
        engine, credit_code=done, risk_class="D", reason="多次投诉", by="李协调"
    )
    overrides.approve(engine, asked.id or 0, by="王协调")
    (tmp_path / "coordinator").mkdir()
    for code in (done, waiting):
        (tmp_path / "inspector" / code).mkdir(parents=True)
    (tmp_path / "links").mkdir()
    with headless() as browser:
        # the sign-in links' own pages (their button signs in), as the link opens them
        link = [f"{base}/w/c/open?token={ssc}", outbox_link(done, teams[done][-1], base)]
        signing = _crawl(phone(browser).new_page(), link, base, tmp_path / "links")
        coordinator = phone(browser).new_page()
        sign_in_page(coordinator, f"{base}/w/c/open?token={ssc}")
        filled = [f"{base}/w/c/rounds/{ROUND}/e/{code}" for code in (done, waiting)]
        seen = _crawl(coordinator, [*filled, coordinator.url], base, tmp_path / "coordinator")
        opened = {}
        for code in (done, waiting):  # a final finding, and one waiting for this signature
            inspector = phone(browser).new_page()
            sign_in_page(inspector, outbox_link(code, teams[code][-1], base))
            opened |= _crawl(inspector, [inspector.url], base, tmp_path / "inspector" / code)
    # the crawl reached the kinds of page a coordinator works with, each at least once
    paths = {urlsplit(k).path for k in seen}
    for kind in ("/w/c/", "/w/c/adhoc", "/w/c/leads", "/w/c/partners", "/w/c/assistance"):
        assert kind in paths, (kind, sorted(paths))
    assert any(re.fullmatch(r"/w/c/rounds/[^/]+", p) for p in paths), sorted(paths)
    assert any(re.fullmatch(r"/w/c/rounds/[^/]+/e/[^/]+", p) for p in paths), sorted(paths)
    assert any(re.fullmatch(r"/w/c/leads/\d+", p) for p in paths), sorted(paths)
    assert f"/w/c/risk/{done}" in paths, sorted(paths)
    assert any(urlsplit(k).path.startswith("/w/a/") for k in opened), sorted(opened)
    assert len(signing) == 2, sorted(signing)
    _fits(signing)
    _fits(seen)
    _fits(opened)
