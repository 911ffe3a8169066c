"""A sign-in link given the wrong token, over real HTTP, GET and the button's POST: the page
said the hint and then the API's English in brackets (此链接不能打开这项任务，或已失效。请联系协调员
（a coordinator may not call this route (allowed: inspector)）; 协调员令牌无效或已撤销（this token
does not open this resource: …）). The workspace speaks Chinese: now the hint alone, and a
coordinator's token on an inspector's link is said as such. Nothing signed in either way."""

from __future__ import annotations

import re

import httpx

from tests.findings.factories import ROUND
from tests.workspace.helpers import outbox_link


def _said(page: httpx.Response) -> str:
    main = page.text.split("<main", 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main.split(">", 1)[1]))


def _english(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]{3,}", text)


def test_a_wrong_token_on_a_sign_in_link_is_said_in_chinese(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, teams, ssc = coordinator_live
    (code, team), (other, others) = sorted(teams.items())[:2]
    theirs = outbox_link(other, others[0], base).rsplit("token=", 1)[1]
    cases = [  # (address, form's token, what the page says)
        (f"/w/open/{ROUND}/{code}", ssc, "这是协调员令牌，不能打开检查任务"),
        (f"/w/open/{ROUND}/{code}", theirs, "此链接不能打开这项任务，或已失效。请联系协调员。"),
        ("/w/c/open", theirs, "协调员令牌无效或已撤销。"),
        ("/w/c/open", "ssc_nope", "协调员令牌无效或已撤销。"),
    ]
    for path, token, said in cases:
        for r in (
            httpx.get(f"{base}{path}", params={"token": token}),
            httpx.post(f"{base}{path}", data={"token": token}, headers={"Origin": base}),
        ):
            assert r.status_code == 403, (path, r.status_code, r.text[:300])
            text = _said(r)
            assert said in text, (path, text)
            assert _english(text.replace(ROUND, "").replace(code, "")) == [], (path, text)
            assert "set-cookie" not in r.headers
