"""A workspace form posted from another site is refused by its ``Origin`` (or ``Referer``),
whatever session cookie and CSRF token it carries (``workspace.origins``), over real HTTP on
both databases; and, in a real Chromium, a page of another origin cannot post one while the
workspace's own forms still can."""

from __future__ import annotations

import http.client
import http.server
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from findings import service
from shuangsui import config
from tests.browser import headless, phone
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import (
    COORDINATOR,
    attacker_site,
    csrf_of,
    dead_letter,
    delivered_round,
    open_assignment,
    sign_in,
    sign_in_page,
)

EVIL = "https://evil.example"
FOREIGN = "表单来自其他网站"
FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效",
        "action": "submit"}  # fmt: skip


def _refused(r: httpx.Response, said: str = FOREIGN) -> None:
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html") and 'lang="zh-CN"' in r.text
    assert said in r.text and "未作任何更改" in r.text, r.text[:500]


def test_a_form_with_a_foreign_origin_is_refused_with_its_cookie_and_token(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """The scripted case: the inspector's real session cookie and CSRF token, and an
    ``Origin`` (or without one a ``Referer``) of another site, ``null``, or given twice:
    403, nothing recorded. The site's own origin, or neither header, goes through."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as client:
        path, html = open_assignment(client, base, code, team[0])
        form = {**FORM, "csrf": csrf_of(html)}
        hostile = [
            ({"Origin": EVIL}, "请求头 Origin 指向的不是本系统的地址"),
            ({"Origin": base.replace("127.0.0.1", "localhost")}, FOREIGN),
            ({"Origin": base.rsplit(":", 1)[0] + ":1"}, FOREIGN),  # another port
            ({"Origin": "null"}, "请求头 Origin 为 null"),
            ({"Referer": f"{EVIL}{path}"}, "请求头 Referer 指向的不是本系统的地址"),
            ({"Origin": base, "Referer": f"{EVIL}/"}, None),  # Origin decides when sent
        ]
        for headers, said in hostile:
            r = client.post(path, data=form, headers=headers)
            if said is None:
                assert r.status_code == 303, r.text[:300]
                continue
            _refused(r, said)
            assert not service.history(engine, ROUND, code).versions, headers
        twice = client.post(path, data=form, headers=[("Origin", base), ("Origin", EVIL)])
        _refused(twice, "请求头 Origin 出现了不止一次")
        assert len(service.history(engine, ROUND, code).versions) == 1
        # the teammate signs with the page's own origin in the Referer, no Origin (an old
        # browser); a sign-off from another site is refused first
        mate_path, mate_html = open_assignment(client, base, code, team[1])
        sign = {"csrf": csrf_of(mate_html, "sign"), "version": "1"}
        _refused(client.post(f"{mate_path}/sign", data=sign, headers={"Origin": EVIL}))
        ok = client.post(f"{mate_path}/sign", data=sign, headers={"Referer": base + mate_path})
        assert ok.status_code == 303, ok.text[:300]


def test_every_workspace_post_route_asks_the_origin_first(engine: sa.Engine) -> None:
    """Every route under /w that takes a POST (inspector's and coordinator's, uploads,
    imports, leads, 延期/更换, ad hoc) is refused from another origin before anything else
    of it runs: no session is needed to be refused so."""
    app = create_app(engine=engine)
    routes = [key.split(" ", 1) for key in app.state.route_roles]  # "METHODS path"
    posts = sorted(p for methods, p in routes if p.startswith("/w/") and "POST" in methods)
    enterprise = "/w/c/rounds/{round_key}/e/{credit_code}"
    for expected in ("/w/a/{round_key}/{credit_code}", "/w/c/rounds/{round_key}/import",
                     "/w/c/adhoc", "/w/c/leads/new", f"{enterprise}/redate",
                     f"{enterprise}/replace"):  # fmt: skip
        assert expected in posts, posts
    assert len(posts) >= 12, posts
    with serve(app) as base, httpx.Client(base_url=base) as client:
        for path in posts:
            concrete = path.replace("{round_key}", ROUND).replace("{credit_code}", "X")
            concrete = concrete.replace("{lead_id}", "1")
            for origin, said in ((EVIL, FOREIGN), ("null", "Origin 为 null")):
                r = client.post(concrete, data={"csrf": "x"}, headers={"Origin": origin})
                _refused(r, said)
                assert r.headers["connection"] == "close"
        # a method a page does not take is still 405, asked from our own origin
        assert client.post("/w/c/partners", headers={"Origin": base}).status_code == 405


def test_a_large_upload_from_a_foreign_origin_is_refused_unread(
    live: tuple[str, dict],
) -> None:
    """25 MiB of photos announced (under the form's limit) with the inspector's real cookie
    and another site's Origin: 403 once the headers and a first part are in, the rest never
    read (the server would wait for it), the connection closed."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as client:
        path, _ = open_assignment(client, base, code, team[0])
        cookie = client.cookies["ssw_a"]
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest("POST", path)
        for name, value in (
            ("Content-Type", "multipart/form-data; boundary=xyz"),
            ("Content-Length", str(25 * 1024 * 1024 - 4096)),
            ("Origin", EVIL),
            ("Cookie", f"ssw_a={cookie}"),
        ):
            conn.putheader(name, value)
        first = b'--xyz\r\nContent-Disposition: form-data; name="photos"; filename="a.png"\r\n'
        conn.endheaders(first + b"\r\n" + b"\x89PNG" + b"0" * 65536)
        try:
            answer = conn.getresponse()
        except TimeoutError as exc:
            raise AssertionError("the server waited for the body of a cross-site upload") from exc
        body = answer.read().decode()
        assert answer.status == 403 and FOREIGN in body, (answer.status, body[:300])
        assert answer.getheader("connection") == "close"
    finally:
        conn.close()


def test_behind_the_proxy_the_configured_address_is_the_sites_origin(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``SHUANGSUI_PUBLIC_BASE_URL`` set (the TLS proxy's address; the proxy may send
    its upstream as Host), a form's Origin must be that address: the request's own
    scheme://host:port is not ours then, nor the public host on another port or scheme."""
    public = "https://ss.example.gov.cn"
    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", public)
    config.get_settings.cache_clear()
    teams = delivered_round(engine, monkeypatch)
    ssc = tokens.create_coordinator(engine, COORDINATOR, config.get_settings().bureau_code)
    dead_letter(engine)
    retry = f"/w/c/rounds/{ROUND}/retry-dead"
    assert teams
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as client:
        opened = sign_in(client, f"/w/c/open?token={ssc}", Origin=public)
        assert opened.status_code == 303 and "secure" in opened.headers["set-cookie"].lower()
        # behind TLS a __Host- cookie (workspace.sessions.cookie); Secure: httpx keeps it back
        cookie = {"Cookie": f"__Host-ssw_c={opened.cookies['__Host-ssw_c']}"}
        page = client.get(f"/w/c/rounds/{ROUND}", headers=cookie)
        form = {"csrf": csrf_of(page.text)}
        for origin in ("http://ss.example.gov.cn", f"{public}:8443", EVIL):
            _refused(client.post(retry, data=form, headers={**cookie, "Origin": origin}))
        # our own page, opened at the server's own address: refused, naming the one to use
        here = client.post(retry, data=form, headers={**cookie, "Origin": base})
        _refused(here, f"此页面是通过 {base} 打开的，不是本系统配置的地址")
        assert f"请从 {public} 打开本系统后再提交" in here.text
        assert f'href="/w/c/rounds/{ROUND}">继续' in here.text  # the form's page, not its POST
        done = client.post(retry, data=form, headers={**cookie, "Origin": public})
        assert done.status_code == 303 and "requeued=1" in done.headers["location"], done.text


# ---------------------------------------------------------------- in a real Chromium
@pytest.mark.slow
def test_a_page_of_another_origin_cannot_post_a_workspace_form(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coordinator signed in, in Chromium; a page served from another port of 127.0.0.1
    (same site: ``SameSite=Strict`` lets the cookie go with its form) posts the round's
    重新投递 form: refused by its Origin (only the CSRF token stopped it); the same page at
    ``localhost`` (another site) gets no cookie even for a link to the month page. The
    workspace's own form still works in the same browser."""
    delivered_round(engine, monkeypatch)
    ssc = tokens.create_coordinator(engine, COORDINATOR, config.get_settings().bureau_code)
    dead_letter(engine)
    with serve(create_app(engine=engine)) as base:
        retry = f"{base}/w/c/rounds/{ROUND}/retry-dead"
        attack = (
            f'<!doctype html><html><body><a id="month" href="{base}/w/c/">本月</a>'
            f'<form method="post" action="{retry}"><input name="csrf" value="guess">'
            '<button id="go">领取奖品</button></form></body></html>'
        )
        with attacker_site(attack) as port, headless() as browser:
            ctx = phone(browser)
            page = ctx.new_page()
            sign_in_page(page, f"{base}/w/c/open?token={ssc}")
            assert page.url.endswith("/w/c/")
            # a link from another port of 127.0.0.1 is same-site: the Strict cookie goes
            # with it; from localhost it does not
            for host, month in (("127.0.0.1", "本月抽查"), ("localhost", "没有有效的协调员会话")):
                page.goto(f"http://{host}:{port}/")
                page.click("#month")
                page.wait_for_load_state()
                assert month in page.content(), (host, page.content())
                page.goto(f"http://{host}:{port}/")
                page.click("#go")
                page.wait_for_load_state()
                assert page.url == retry
                assert FOREIGN in page.content(), (host, page.content())
            page.goto(f"{base}/w/c/rounds/{ROUND}")
            page.get_by_role("button", name="重新投递失败的通知").click()
            page.wait_for_url("**requeued=1**")
            ctx.close()


def test_an_origin_is_compared_as_a_browser_writes_it() -> None:
    """Scheme and host in lower case, the host in ASCII, no default port; anything that is not
    an http(s) origin is no origin (and so not ours)."""
    from workspace.origins import origin_of

    same = {
        "https://ss.example.gov.cn": ["HTTPS://SS.Example.gov.cn:443", "https://ss.example.gov.cn/w/c/"],
        "http://127.0.0.1:8350": ["http://127.0.0.1:8350/", " http://127.0.0.1:8350"],
        "https://xn--fiqs8s.cn": ["https://中国.cn"],
        "http://[::1]:8350": ["http://[::1]:8350"],
        "http://evil.example": ["http://127.0.0.1:8350@evil.example", "http://evil.example#@ss"],
    }  # fmt: skip
    for origin, spellings in same.items():
        for spelling in spellings:
            assert origin_of(spelling) == origin, spelling
    for junk in ("null", "", "/w/c/", "ftp://ss.example.gov.cn", "https://", "http://a:99999"):
        assert origin_of(junk) is None, junk
