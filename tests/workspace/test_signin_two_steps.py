"""Signing in takes two steps: a GET of a link (the notice's ``/w/open/{round}/{enterprise}``,
the coordinator's ``/w/c/open``) answers a page naming what will open, with one button that
POSTs the token in a form; only that POST, from our own origin, issues the cookie and records
``WorkspaceOpened``. So a link scanner's or a preview's fetch records nothing, and a page of
another site cannot sign a browser into someone else's session (login CSRF): by an image or a
link it only reaches the page, by a form it is refused by its ``Origin``.

Over real HTTP on both databases, and in a real Chromium at 390 px with JavaScript off."""

from __future__ import annotations

import http.client as http_client
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.models import Enterprise, Inspector
from rounds.models import AuditEvent
from tests.browser import headless, phone
from tests.findings.factories import ROUND
from tests.workspace.helpers import (
    attacker_site,
    csrf_of,
    open_assignment,
    outbox_link,
    revoke_links,
    sign_in,
    sign_in_form,
)
from workspace import sessions

EVIL = "http://evil.example"
FOREIGN = "表单来自其他网站"
SIGNOUT = '<form method="post" action="{0}" class="signout">'


def _opened(engine: sa.Engine) -> int:
    """How many ``WorkspaceOpened`` entries the audit log holds."""
    with Session(engine) as s:
        return len(s.exec(select(AuditEvent).where(AuditEvent.event == "WorkspaceOpened")).all())


def _nothing_set(r: httpx.Response) -> None:
    assert "set-cookie" not in r.headers, r.headers


def test_the_inspectors_link_opens_a_page_and_only_its_button_signs_in(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    link = outbox_link(code, team[0], base)
    token = link.rsplit("token=", 1)[1]
    with Session(engine) as s:
        enterprise = s.get(Enterprise, code)
        inspector = s.get(Inspector, team[0])
        assert enterprise is not None and inspector is not None
        names = enterprise.name, inspector.name
    with httpx.Client(base_url=base) as http:
        # a link scanner's fetch, a preview, the inspector's own tap: the same page, twice
        for _ in range(2):
            page = http.get(link)
            assert page.status_code == 200, page.text[:500]
            _nothing_set(page)
            assert not http.cookies
        assert _opened(engine) == 0
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "same-origin"
        assert 'lang="zh-CN"' in page.text and "/w/static/workspace.css" in page.text
        assert ROUND in page.text and code in page.text and names[0] in page.text
        assert names[1] in page.text and "打开检查任务" in page.text
        action, sent = sign_in_form(page)
        assert urlsplit(action).path == f"/w/open/{ROUND}/{code}" and not urlsplit(action).query
        assert sent == token
        # its button: a POST of the token from our own origin
        done = http.post(action, data={"token": sent}, headers={"Origin": base})
        assert done.status_code == 303 and done.headers["location"] == f"/w/a/{ROUND}/{code}"
        assert "token" not in done.headers["location"]
        cookie = done.headers["set-cookie"]
        assert cookie.startswith(f"{sessions.INSPECTOR_COOKIE}=") and "HttpOnly" in cookie
        assert f"Path=/w/a/{ROUND}/{code}" in cookie
        assert _opened(engine) == 1
        shown = http.get(done.headers["location"])
        assert shown.status_code == 200 and "待填报" in shown.text and token not in shown.text


def test_the_coordinators_link_opens_a_page_and_only_its_button_signs_in(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, _, ssc = coordinator_live
    with httpx.Client(base_url=base) as http:
        page = http.get(f"/w/c/open?token={ssc}")
        assert page.status_code == 200, page.text[:500]
        _nothing_set(page)
        assert _opened(engine) == 0 and page.headers["cache-control"] == "no-store"
        assert "福建省认证执法局" in page.text and "进入" in page.text
        action, sent = sign_in_form(page)
        assert urlsplit(action).path == "/w/c/open" and not urlsplit(action).query
        assert sent == ssc
        assert http.get("/w/c/").status_code == 401  # still nobody
        done = http.post(action, data={"token": sent}, headers={"Origin": base})
        assert done.status_code == 303 and done.headers["location"] == "/w/c/"
        assert "Path=/w/c" in done.headers["set-cookie"]
        assert _opened(engine) == 1
        assert http.get("/w/c/").status_code == 200


def test_a_form_of_another_site_posting_a_valid_token_signs_nobody_in(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """Login CSRF by a form: the attacker's own valid token, posted from their page (the
    browser says so in ``Origin``, or ``null`` from a sandboxed frame): refused before the
    handler, no cookie, no audit entry; the same POST from our own origin signs in."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    link = outbox_link(code, team[0], base)
    inspector = sign_in_form(httpx.get(link))
    coordinator = sign_in_form(httpx.get(f"{base}/w/c/open?token={ssc}"))
    for action, token in (inspector, coordinator):
        for origin in (EVIL, "null", base.replace("127.0.0.1", "localhost")):
            refused = httpx.post(action, data={"token": token}, headers={"Origin": origin})
            assert refused.status_code == 403, (origin, refused.text[:300])
            assert "未作任何更改" in refused.text
            _nothing_set(refused)
        refused = httpx.post(action, data={"token": token}, headers={"Referer": f"{EVIL}/x"})
        assert refused.status_code == 403 and FOREIGN in refused.text
    assert _opened(engine) == 0
    for action, token in (inspector, coordinator):
        done = httpx.post(action, data={"token": token}, headers={"Origin": base})
        assert done.status_code == 303 and "set-cookie" in done.headers
    assert _opened(engine) == 2


def test_a_dead_link_is_said_at_once_and_its_post_is_refused_too(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """A revoked link, another's token, a coordinator token that is no longer one: the GET
    answers the refusal it always did (status, page); posting the token anyway is refused the
    same way. Nothing is signed in, nothing recorded."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    link = outbox_link(code, team[0], base)
    action, token = sign_in_form(httpx.get(link))
    revoke_links(engine, team[0])
    ours = {"Origin": base}  # the button's POST, from our own page (else refused unread)
    for r in (httpx.get(link), httpx.post(action, data={"token": token}, headers=ours)):
        assert r.status_code == 401 and "您的任务链接已被撤销" in r.text, r.text[:300]
        assert 'id="sign-in"' not in r.text
        _nothing_set(r)
    other = outbox_link(sorted(teams)[1], teams[sorted(teams)[1]][0], base)
    wrong = f"{base}/w/open/{ROUND}/{code}?token={other.rsplit('token=', 1)[1]}"
    r = httpx.get(wrong)
    assert r.status_code == 403 and "此链接不能打开这项任务" in r.text and "sign-in" not in r.text
    nope = {"token": "ssc_nope"}
    for r in (httpx.get(f"{base}/w/c/open?token=ssc_nope"),
              httpx.post(f"{base}/w/c/open", data=nope, headers=ours)):  # fmt: skip
        assert r.status_code == 403 and "协调员令牌无效或已撤销" in r.text, r.text[:300]
        _nothing_set(r)
    r = httpx.post(f"{base}/w/c/open", data={}, headers=ours)
    assert r.status_code == 401 and "没有令牌" in r.text
    _nothing_set(r)
    assert _opened(engine) == 0
    assert httpx.get(f"{base}/w/c/open?token={ssc}").status_code == 200


def test_a_token_given_twice_is_refused_naming_it(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """Twice in the form, or in the form and the address: which one counts is not the
    server's to guess (as the other forms refuse a field sent twice)."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    action, token = sign_in_form(httpx.get(outbox_link(code, team[0], base)))
    cases = {
        action: [("token", token), ("token", token)],
        f"{action}?token={token}": [("token", token)],
        f"{base}/w/c/open": [("token", ssc), ("token", ssc)],
        f"{base}/w/c/open?token={ssc}": [("token", ssc)],
    }
    for url, form in cases.items():
        body = "&".join(f"{k}={v}" for k, v in form)
        kind = {"Content-Type": "application/x-www-form-urlencoded", "Origin": base}
        r = httpx.post(url, content=body, headers=kind)
        assert r.status_code == 422, (url, r.status_code, r.text[:300])
        assert "令牌（token）" in r.text and "不止一次" in r.text, r.text[:500]
        _nothing_set(r)
        assert token not in r.text and ssc not in r.text  # nothing written back
    # a file in its place, a thousand fields: refused before any token is read
    many = {f"f{n}": "x" for n in range(1000)}
    for sent in ({"files": {"token": ("t.txt", ssc.encode())}}, {"data": many | {"token": ssc}}):
        r = httpx.post(f"{base}/w/c/open", headers={"Origin": base}, **sent)  # type: ignore[arg-type]
        assert r.status_code == 400 and "登录表单无法读取" in r.text, r.text[:300]
        _nothing_set(r)
    assert _opened(engine) == 0


def test_a_refusal_page_offers_to_sign_out_of_the_session_it_was_shown_in(
    coordinator_live: tuple[str, dict, str],
) -> None:
    """A refusal (``refused.html``) under a path where the browser holds a session says what
    it always said, and carries 退出 as the other pages do; without a session, no 退出."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        csrf = csrf_of(http.get("/w/c/").text)
        r = http.get("/w/c/rounds/no-such-round")
        assert r.status_code == 404 and "没有轮次 no-such-round" in r.text
        assert SIGNOUT.format("/w/c/signout") in r.text and csrf in r.text
        r = http.post(f"/w/c/rounds/{ROUND}/retry-dead", data={"csrf": csrf},
                      headers={"Origin": EVIL})  # fmt: skip
        assert r.status_code == 403 and FOREIGN in r.text
        assert SIGNOUT.format("/w/c/signout") in r.text
    r = httpx.get(f"{base}/w/c/rounds/no-such-round")
    assert r.status_code == 401 and "signout" not in r.text
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        r = http.post(f"{path}/sign", data={"csrf": csrf_of(html)})
        assert r.status_code == 422 and "签字表单缺少版本号" in r.text
        assert SIGNOUT.format(f"{path}/signout") in r.text
        out = http.post(f"{path}/signout", data={"csrf": csrf_of(r.text)})
        assert out.status_code == 200 and "已退出。" in out.text


def _declared_too_large(http: httpx.Client, path: str, length: int = 40_000_000) -> httpx.Response:
    """A POST to ``path`` declaring ``length`` bytes (40 MB), with the client's cookies (refused
    by the body limit's middleware before the body is read: none is sent)."""
    parts = urlsplit(str(http.base_url))
    cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    conn = http_client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", path, headers={"Content-Length": str(length), "Cookie": cookies})
        answer = conn.getresponse()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())
    finally:
        conn.close()


def test_the_frameworks_refusals_offer_to_sign_out_too(
    coordinator_live: tuple[str, dict, str],
) -> None:
    """No such page, a method a page does not take, a body too large (the framework's and the
    body limit's refusals, not the routes'): under a path where the browser holds a session
    they carry 退出 as the workspace's own refusals do; without one, none."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        csrf = csrf_of(http.get("/w/c/").text)
        for r, status, said in (
            (http.get("/w/c/no-such-page"), 404, "没有这个页面"),
            (http.get(f"/w/c/rounds/{ROUND}/retry-dead"), 405, "不接受这种请求方式"),
            (_declared_too_large(http, "/w/c/adhoc"), 413, "提交的内容过大"),
        ):
            assert r.status_code == status and said in r.text, (status, r.text[:300])
            assert SIGNOUT.format("/w/c/signout") in r.text and csrf in r.text, status
    for r in (httpx.get(f"{base}/w/c/no-such-page"),
              httpx.get(f"{base}/w/c/rounds/{ROUND}/retry-dead")):  # fmt: skip
        assert r.status_code in (404, 405) and 'class="signout"' not in r.text
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        mine = SIGNOUT.format(f"{path}/signout")
        for r, status in (
            (http.get(f"{path}/no-such-page"), 404),
            (http.get(f"{path}/sign"), 405),
            # the findings form is read up to 4 times its photos' 25 MB (workspace.photo_form)
            (_declared_too_large(http, path, 101 * 2**20), 413),
        ):
            assert r.status_code == status and mine in r.text, (status, r.text[:300])
        # another assignment's path is not this session's: no 退出 of it there
        r = http.get(f"/w/a/{ROUND}/no-such-enterprise/no-such-page")
        assert r.status_code == 404 and 'class="signout"' not in r.text
        out = http.post(f"{path}/signout", data={"csrf": csrf_of(html)})
        assert out.status_code == 200 and "已退出。" in out.text


# ---------------------------------------------------------------- in a real Chromium
@pytest.mark.slow
def test_in_chromium_another_site_cannot_sign_a_browser_in_and_the_button_can(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    """JavaScript off, 390 px. The attacker's page shows their own coordinator link as an
    image, links to it and posts it in a form: the image and the link reach only the page
    (no cookie), the form is refused. The link's own button signs in, for the coordinator and
    for an inspector whose notice was opened in a web mail (another site), and the address
    then holds no token."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    link = f"{base}/w/c/open?token={ssc}"
    mine = outbox_link(code, team[0], base)
    attack = (
        f'<!doctype html><html><body><img src="{link}" alt="">'
        f'<a id="link" href="{link}">中奖了</a><a id="mail" href="{mine}">检查任务通知</a>'
        f'<form method="post" action="{base}/w/c/open"><input name="token" value="{ssc}">'
        '<button id="go">领取奖品</button></form></body></html>'
    )
    with attacker_site(attack) as port, headless() as browser:
        ctx = phone(browser)
        page = ctx.new_page()
        page.goto(f"http://localhost:{port}/")
        page.wait_for_load_state()
        assert ctx.cookies() == [] and _opened(engine) == 0  # the image
        page.click("#link")
        page.wait_for_load_state()
        assert page.url == link and page.locator("#sign-in button").is_visible()
        assert ctx.cookies() == [] and _opened(engine) == 0
        page.screenshot(path=str(tmp_path / "1-coordinator-sign-in.png"), full_page=True)
        page.goto(f"http://localhost:{port}/")
        page.click("#go")
        page.wait_for_load_state()
        assert FOREIGN in page.content() and ctx.cookies() == [] and _opened(engine) == 0
        page.screenshot(path=str(tmp_path / "2-cross-site-refused.png"), full_page=True)
        ctx.close()

        # the coordinator's link opened directly; the inspector's tapped in a web mail (another
        # site): the button is our own page's form, so the Strict cookie goes with the redirect
        for n, (url, lands) in enumerate([(link, "/w/c/"), (mine, f"/w/a/{ROUND}/{code}")]):
            ctx = phone(browser)
            page = ctx.new_page()
            if n == 0:
                page.goto(url)
            else:
                page.goto(f"http://localhost:{port}/mail")
                page.click("#mail")
                page.wait_for_load_state()
                assert page.url == url
            button = page.locator("#sign-in button")
            assert button.is_visible() and ctx.cookies() == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            box = button.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
            page.screenshot(path=str(tmp_path / f"{3 + 2 * n}-page.png"), full_page=True)
            button.click()
            page.wait_for_load_state()
            assert urlsplit(page.url).path == lands and "token" not in page.url, page.url
            assert [c["name"] for c in ctx.cookies()] in (["ssw_c"], ["ssw_a"])
            assert page.get_by_role("button", name="退出").is_visible()
            assert ("本月抽查" if n == 0 else "待填报") in page.content()
            page.screenshot(path=str(tmp_path / f"{4 + 2 * n}-signed-in.png"), full_page=True)
            ctx.close()
    assert _opened(engine) == 2
