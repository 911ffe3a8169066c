"""退出 on a shared office computer: the coordinator's and the inspector's pages carry a sign-out
form (a POST with the session's CSRF token); it clears the cookie with its own name, Path and
flags, and the pages then ask for the link again. A GET never signs out; without the token the
session stays; without a session the same page. Once with plain requests, once in a real
Chromium at 390 px with JavaScript off (the back button and reload show no session's page).
The cookies themselves end when the browser closes (no Max-Age)."""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds.models import AuditEvent
from tests.browser import headless, phone
from tests.findings.factories import ROUND
from tests.workspace.helpers import csrf_of, open_assignment, outbox_link, sign_in, sign_in_page
from workspace import sessions
from workspace.guards import NO_SESSION

COORDINATOR_GONE = "没有有效的协调员会话"
FORM = re.compile(r'<form method="post" action="([^"]+)" class="signout">')


def _flags(set_cookie: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    (morsel,) = jar.values()
    return {k: str(v) for k, v in morsel.items() if v} | {"name": morsel.key, "value": morsel.value}


def _cleared(r: httpx.Response, name: str, path: str) -> None:
    """The answer of a sign-out: the page, not cached, the cookie dropped where it was set."""
    assert r.status_code == 200, r.text[:300]
    assert "已退出。" in r.text and r.headers["cache-control"] == "no-store"
    flags = _flags(r.headers["set-cookie"])
    assert flags["name"] == name and flags["value"] in ("", '""'), flags
    assert flags["max-age"] == "0" and flags["path"] == path, flags
    assert flags["httponly"] and flags["samesite"].lower() == "strict", flags
    assert 'class="signout"' not in r.text  # the page after has no session to end


def _closed(engine: sa.Engine) -> list[tuple[str, str | None, str]]:
    """The audit log's ``WorkspaceClosed`` entries: (role, round, enterprise)."""
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.event == "WorkspaceClosed")).all()
    said = [(json.loads(r.payload), r.round_key) for r in rows]
    return [(p["role"], round_key, p["credit_code"]) for p, round_key in said]


def test_a_coordinator_signs_out_and_the_month_asks_for_the_link_again(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, _, ssc = coordinator_live
    with httpx.Client(base_url=base) as http:
        opened = sign_in(http, f"/w/c/open?token={ssc}")
        flags = _flags(opened.headers["set-cookie"])
        assert "max-age" not in flags and "expires" not in flags, flags  # ends with the browser
        copied = http.cookies[sessions.COORDINATOR_COOKIE]
        for page in ("/w/c/", "/w/c/leads", "/w/c/partners", f"/w/c/rounds/{ROUND}", "/w/c/adhoc"):
            shown = http.get(page)
            assert shown.status_code == 200 and FORM.findall(shown.text) == ["/w/c/signout"], page
        month = http.get("/w/c/")
        # a GET of the address (a prefetch, a typed address) does not sign out
        got = http.get("/w/c/signout")
        assert got.status_code == 405 and "set-cookie" not in got.headers
        # without the form's token: refused, still signed in, 继续 back to the month
        forged = http.post("/w/c/signout", data={"csrf": "guess"})
        assert forged.status_code == 403 and "CSRF" in forged.text, forged.text[:300]
        assert "set-cookie" not in forged.headers and 'href="/w/c">继续' in forged.text
        assert http.get("/w/c/").status_code == 200
        out = http.post("/w/c/signout", data={"csrf": csrf_of(month.text)})
        _cleared(out, sessions.COORDINATOR_COOKIE, "/w/c")
        assert "协调员令牌链接" in out.text
        again = http.get("/w/c/")
        assert again.status_code == 401 and COORDINATOR_GONE in again.text
        # signed out already: the same page, no error
        _cleared(http.post("/w/c/signout", data={}), sessions.COORDINATOR_COOKIE, "/w/c")
    assert _closed(engine) == [("coordinator", None, "")]  # once: the second had no session
    # stateless: a copy of the value taken before still opens the month until it expires
    # (docs/security.md); revoking the token ends it everywhere
    with httpx.Client(base_url=base, cookies={sessions.COORDINATOR_COOKIE: copied}) as copy:
        assert copy.get("/w/c/").status_code == 200


def test_an_inspector_signs_out_of_their_assignment(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        first = sign_in(http, outbox_link(code, team[0], base))
        flags = _flags(first.headers["set-cookie"])
        assert "max-age" not in flags and "expires" not in flags, flags
        path, html = open_assignment(http, base, code, team[0])
        assert FORM.findall(html) == [f"{path}/signout"]
        got = http.get(f"{path}/signout")
        assert got.status_code == 405 and "set-cookie" not in got.headers
        forged = http.post(f"{path}/signout", data={})
        assert forged.status_code == 403 and f'href="{path}">继续' in forged.text
        assert http.get(path).status_code == 200
        out = http.post(f"{path}/signout", data={"csrf": csrf_of(html)})
        _cleared(out, sessions.INSPECTOR_COOKIE, f"/w/a/{ROUND}/{code}")
        assert "通知中的链接" in out.text
        again = http.get(path)
        assert again.status_code == 401 and NO_SESSION in again.text
        _cleared(http.post(f"{path}/signout"), sessions.INSPECTOR_COOKIE, path)
    assert _closed(engine) == [("inspector", ROUND, code)]


@pytest.mark.slow
def test_signing_out_in_chromium_leaves_nothing_behind_back_or_reload(
    coordinator_live: tuple[str, dict, str], tmp_path: Path
) -> None:
    """退出 clicked on the coordinator's month and on an inspector's page, JavaScript off, at
    390 px: the page says so; the back button and reload then show the page asking for the
    link, nothing of the month or of the assignment."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    with headless() as browser:
        ctx = phone(browser)
        page = ctx.new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        assert page.url.endswith("/w/c/") and page.get_by_text("本月抽查").first.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(tmp_path / "1-month.png"), full_page=True)
        page.get_by_role("button", name="退出").click()
        assert page.locator("#signed-out h1").inner_text() == "已退出。"
        assert ctx.cookies() == []
        page.screenshot(path=str(tmp_path / "2-coordinator-out.png"), full_page=True)
        back = page.go_back()
        assert back is not None and back.status == 401 and "本月抽查" not in page.content()
        assert COORDINATOR_GONE in page.content()
        again = page.reload()
        assert again is not None and again.status == 401 and "本月抽查" not in page.content()
        page.screenshot(path=str(tmp_path / "3-coordinator-back.png"), full_page=True)
        ctx.close()

        ctx = phone(browser)
        page = ctx.new_page()
        sign_in_page(page, outbox_link(code, team[0], base))
        assert page.url.endswith(f"/w/a/{ROUND}/{code}")
        assert page.get_by_label("检查情况").is_visible()
        page.screenshot(path=str(tmp_path / "4-inspector.png"), full_page=True)
        page.get_by_role("button", name="退出").click()
        assert page.locator("#signed-out h1").inner_text() == "已退出。"
        assert ctx.cookies() == []
        back = page.go_back()
        assert back is not None and back.status == 401 and NO_SESSION in page.content()
        assert page.get_by_label("检查情况").count() == 0
        again = page.reload()
        assert again is not None and again.status == 401 and NO_SESSION in page.content()
        page.screenshot(path=str(tmp_path / "5-inspector-back.png"), full_page=True)
        ctx.close()
