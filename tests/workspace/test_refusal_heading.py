"""A refusal page says what could not be done: a page asked for could not be opened
(无法打开此页面), a form sent was not carried out (未能完成这项操作). A coordinator whose 重新发送
or 更换 form was refused was told the page could not be opened, while the page was open in
front of them. Over real HTTP, both databases."""

from __future__ import annotations

import re

import httpx

from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client
from workspace.pages import NOT_DONE, NOT_OPENED


def _heading(html: str) -> tuple[str, str]:
    title = re.search(r"<title>([^<]*)</title>", html)
    h1 = re.search(r"<h1>([^<]*)</h1>", html)
    assert title and h1, html[:400]
    return title.group(1), h1.group(1)


def test_a_refused_form_is_not_called_a_page_that_would_not_open(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    form = {"inspector_id": team[0], "reason": "手机遗失"}
    opened = httpx.get(f"{base}{page}")  # no session: the page is not opened
    assert opened.status_code == 401
    assert _heading(opened.text) == (f"{NOT_OPENED} · 双随机工作台", NOT_OPENED)
    with coordinator_client(base, ssc) as http:
        unsigned = http.post(f"{page}/relink", data=form)  # no CSRF token: not carried out
        form_type = {"content-type": "application/x-www-form-urlencoded"}
        too_large = http.post(f"{page}/relink", content=b"x" * (8 << 20), headers=form_type)
        missing = http.get(f"/w/c/rounds/{ROUND}/e/000000000000000000")
    assert unsigned.status_code == 403
    assert _heading(unsigned.text) == (f"{NOT_DONE} · 双随机工作台", NOT_DONE)
    assert too_large.status_code == 413  # the framework's refusal, made outside the route
    assert _heading(too_large.text)[1] == NOT_DONE
    assert missing.status_code in (404, 422) and _heading(missing.text)[1] == NOT_OPENED
