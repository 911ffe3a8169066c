"""A round's page lists its enterprises a page at a time, and finds one by what a coordinator
types: part of its name, its credit code or an inspector's name. It listed every enterprise
on one page: a round drawn from a registry of 200,000 holds thousands, a page of megabytes on
a phone, and the only way to one enterprise was to scroll. Tested over HTTP with the page's
size made small (the round here draws a handful)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry.models import Enterprise
from tests.findings.factories import ROUND
from tests.workspace.helpers import final_and_waiting, sign_in
from workspace import overview
from workspace.coordinator import enterprise_path

PAGE = f"/w/c/rounds/{ROUND}"


def _codes(html: str) -> list[str]:
    """The credit codes the page lists, in its order."""
    return re.findall(r'<tr id="e-([0-9A-Z]{18})"', html)


def _pager(html: str) -> str:
    found = re.search(r'<nav class="filters" aria-label="翻页">(.*?)</nav>', html, re.S)
    return found.group(1) if found else ""


def _links(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


@pytest.fixture
def signed_in(coordinator_live: tuple[str, dict, str]) -> Iterator[httpx.Client]:
    base, _teams, ssc = coordinator_live
    with httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        yield http


def test_a_page_at_a_time_every_enterprise_once(
    coordinator_live: tuple[str, dict, str],
    signed_in: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _base, teams, _ssc = coordinator_live
    monkeypatch.setattr(overview, "ROUND_PAGE", 2)
    pages = -(-len(teams) // 2)
    assert pages >= 2, len(teams)
    listed: list[str] = []
    path = PAGE
    http = signed_in
    for n in range(1, pages + 1):
        html = http.get(path).text
        codes = _codes(html)
        assert len(codes) == (2 if n < pages else len(teams) - 2 * (pages - 1))
        first, last = 2 * (n - 1) + 1, 2 * (n - 1) + len(codes)
        said = f"第 {n} 页，共 {pages} 页（第 {first}–{last} 家，共 {len(teams)} 家）"
        assert said in _pager(html), _pager(html)
        listed += codes
        onward = re.findall(r'href="([^"#]+)#enterprises">下一页', _pager(html))
        if n < pages:
            path = onward[0].replace("&amp;", "&")
            assert path == f"{PAGE}?page={n + 1}"
        else:
            assert onward == []
    assert sorted(listed) == sorted(teams) and len(set(listed)) == len(listed)
    # a page past the last is the last; anything not a page number, the first
    assert _codes(http.get(PAGE, params={"page": "999"}).text) == listed[-len(codes) :]
    for odd in ("0", "-1", "²", "1e3", "x" * 500, "1" * 40):
        assert _codes(http.get(PAGE, params={"page": odd}).text) == listed[:2], odd


def test_found_by_name_code_or_inspector_with_the_filter_kept(
    coordinator_live: tuple[str, dict, str], signed_in: httpx.Client, engine: sa.Engine
) -> None:
    _base, teams, _ssc = coordinator_live
    done, waiting = final_and_waiting(engine, teams)
    with Session(engine) as db:
        name = db.get(Enterprise, done).name  # type: ignore[union-attr]
    http = signed_in
    by_name = http.get(PAGE, params={"q": name}).text
    assert _codes(by_name) == [done]
    assert f"与“{name}”相符的企业 1 家（本轮共 {len(teams)} 家）" in by_name
    assert f'value="{name}"' in by_name  # the search box keeps what was typed
    # part of the credit code, in lower case
    assert done in _codes(http.get(PAGE, params={"q": done[-8:].lower()}).text)
    # an inspector's name: every enterprise of their teams
    page = http.get(PAGE).text
    row = page.split(f'id="e-{waiting}"', 1)[1].split("</tr>", 1)[0]
    member = re.search(r'data-label="检查组">([^<、]+)', row).group(1)  # type: ignore[union-attr]
    by_member = _codes(http.get(PAGE, params={"q": member}).text)
    assert waiting in by_member
    # the filter's links keep the search; the search keeps the filter
    signing = http.get(PAGE, params={"q": name, "show": "signing"}).text
    assert _codes(signing) == [] and f"没有待签字与“{name}”相符的企业。" in signing
    links = _links(signing.split('aria-label="按进度筛选"', 1)[1].split("</nav>", 1)[0])
    assert all("q=" in h for h in links), links
    assert '<input type="hidden" name="show" value="signing">' in signing
    # what was typed comes back escaped, without control characters, cut to its limit
    odd = http.get(PAGE, params={"q": "<b>\u202e" + "x" * 100}).text
    assert "<b>" not in odd and "\u202e" not in odd and _codes(odd) == []
    assert f'value="&lt;b&gt;{"x" * (overview.SOUGHT_MAX - 3)}"' in odd


def test_the_signoff_queue_links_each_enterprise(
    coordinator_live: tuple[str, dict, str], signed_in: httpx.Client, engine: sa.Engine
) -> None:
    """Whatever page of the list an enterprise is on, the queue below it leads to it."""
    _base, teams, _ssc = coordinator_live
    _done, waiting = final_and_waiting(engine, teams)
    page = signed_in.get(PAGE).text
    queue = page.split('id="signoff-queue"', 1)[1].split("</section>", 1)[0]
    assert _links(queue) == [enterprise_path(ROUND, waiting)]
