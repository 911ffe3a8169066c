"""The coordinator reads a round's enterprises a filter at a time, and opens each one: its
team, deadline and every version of its finding with the evidence, over real HTTP."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from findings.service import submit
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND, final_finding, finding
from tests.workspace.helpers import (
    PNG,
    coordinator_client,
    csrf_of,
    final_and_waiting,
    open_assignment,
    sign_in_page,
)

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场核查，未见问题"}


def _listed(html: str) -> list[str]:
    """The credit codes of the enterprises' table, in order."""
    return re.findall(r'<tr id="e-([0-9A-Z]+)"', html)


def test_the_round_table_filters_by_progress_and_each_row_opens_its_enterprise(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, teams, ssc = coordinator_live
    done, waiting = final_and_waiting(engine, teams)
    todo = set(teams) - {done, waiting}
    with coordinator_client(base, ssc) as http:
        everything = http.get(f"/w/c/rounds/{ROUND}")
        shown = {show: http.get(f"/w/c/rounds/{ROUND}?show={show}") for show in
                 ("todo", "signing", "final", "published", "late", "nonsense")}  # fmt: skip
        opened = http.get(f"/w/c/rounds/{ROUND}/e/{waiting}")
    assert set(_listed(everything.text)) == set(teams)
    assert set(_listed(shown["todo"].text)) == todo
    assert _listed(shown["signing"].text) == [waiting]
    assert _listed(shown["final"].text) == [done]  # signed by both, not yet published
    assert _listed(shown["published"].text) == []
    assert "没有已公示的企业。" in shown["published"].text
    assert _listed(shown["late"].text) == []
    assert set(_listed(shown["nonsense"].text)) == set(teams)  # an unknown filter: all
    nav = everything.text.split('class="filters"', 1)[1].split("</nav>", 1)[0]
    assert f"全部 {len(teams)}" in nav and f"待填报 {len(todo)}" in nav and "待签字 1" in nav
    assert 'aria-current="page">待签字 1' in shown["signing"].text
    assert f'href="/w/c/rounds/{ROUND}/e/{waiting}"' in everything.text
    assert opened.status_code == 200
    banner = opened.text.split('id="state"', 1)[1].split("</section>", 1)[0]
    assert "待" in banner and "签字确认" in banner
    assert f'href="/w/c/rounds/{ROUND}#e-{waiting}"' in opened.text  # back to its row
    assert "（强制性产品认证，有效）" in opened.text  # the certificate's kind and status, in words


def test_an_enterprise_page_shows_every_version_newest_first_with_its_evidence(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as inspector:  # a photo, through the inspector's page
        path, page = open_assignment(inspector, base, code, team[0])
        r = inspector.post(path, data={"csrf": csrf_of(page), **FORM, "action": "submit"},
                           files=[("photo", ("gate.png", PNG, "image/png"))])  # fmt: skip
        assert r.status_code == 303, r.text
        # a draft's photo is the inspector's alone until submitted
        draft_photo = PNG + b"draft"
        r = inspector.post(path, data={"csrf": csrf_of(page), **FORM, "action": "draft"},
                           files=[("photo", ("draft.png", draft_photo, "image/png"))])  # fmt: skip
        assert r.status_code == 303, r.text
    submit(engine, round_key=ROUND, credit_code=code,
           data=finding("no_problem", reason="复核后更正", description="复核：证书有效"),
           submitted_by="coordinator:李协调", signers=team)  # fmt: skip
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}/e/{code}")
        assert page.status_code == 200, page.text
        history = page.text.split('id="history"', 1)[1]
        hrefs = re.findall(r'href="(/w/c/rounds/[^"]+/evidence/([0-9a-f]{64}))"', history)
        files = {sha: http.get(href) for href, sha in hrefs}
        draft_sha = hashlib.sha256(draft_photo).hexdigest()
        draft = http.get(f"/w/c/rounds/{ROUND}/e/{code}/evidence/{draft_sha}")
    assert "共 2 版，最新在前" in history
    assert history.index("第 2 版") < history.index("第 1 版")
    assert "复核后更正" in history and "协调员 李协调" in history
    assert "现场核查，未见问题" in history
    assert list(files) == [hashlib.sha256(PNG).hexdigest()]
    (got,) = files.values()
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert draft.status_code == 404 and "这项任务没有这个文件" in draft.text
    assert "已完成：第 2 版" in page.text


def test_an_enterprise_page_is_the_coordinators_alone_and_names_what_is_not_there(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        assert http.get(f"/w/c/rounds/{ROUND}/e/{code}").status_code == 401
        open_assignment(http, base, code, team[0])  # an inspector's session opens nothing here
        assert http.get(f"/w/c/rounds/{ROUND}/e/{code}").status_code == 401
        assert http.get(f"/w/c/rounds/{ROUND}/e/{code}/evidence/{'0' * 64}").status_code == 401
    with coordinator_client(base, ssc) as http:
        other = "91350100MA2Y000000"
        assert other not in teams
        missing = http.get(f"/w/c/rounds/{ROUND}/e/{other}")
        no_round = http.get(f"/w/c/rounds/no-such-round/e/{code}")
        no_file = http.get(f"/w/c/rounds/{ROUND}/e/{code}/evidence/{'0' * 64}")
        traversal = http.get(f"/w/c/rounds/{ROUND}/e/..%2F..%2Fetc/evidence/{'0' * 64}")
        long = http.get(f"/w/c/rounds/{ROUND}/e/{'A' * 10_000}")
    assert missing.status_code == 404 and f"没有企业 {other} 的检查任务" in missing.text
    assert no_round.status_code == 404 and "没有轮次 no-such-round" in no_round.text
    assert no_file.status_code == 404 and "这项任务没有这个文件" in no_file.text
    assert traversal.status_code == 404
    assert long.status_code == 404 and f"没有企业 {'A' * 24}… 的检查任务" in long.text


@pytest.mark.slow
def test_on_a_phone_each_row_shows_its_progress_and_the_enterprise_page_fits(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, teams, ssc = coordinator_live
    (done, done_team), *_ = sorted(teams.items())
    final_finding(engine, done, done_team)
    with headless() as browser:
        page = phone(browser).new_page()  # JavaScript off
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/rounds/{ROUND}?show=final")
        page.screenshot(path=str(tmp_path / "round-final.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        progress = page.locator(f"#e-{done} td.progress").bounding_box()
        page.get_by_role("link", name=page.locator(f"#e-{done} a").inner_text()).click()
        page.screenshot(path=str(tmp_path / "enterprise.png"), full_page=True)
        opened = page.url, page.evaluate("document.documentElement.scrollWidth")
        banner = page.locator("#state").inner_text()
    assert width <= PHONE["width"]
    # the row's progress is on the screen, not scrolled out of sight to the right
    assert progress is not None and progress["x"] + progress["width"] <= PHONE["width"]
    assert opened == (f"{base}/w/c/rounds/{ROUND}/e/{done}", PHONE["width"])
    assert banner.startswith("已完成")
