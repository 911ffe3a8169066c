"""A sign-in link refused (ended and replaced, revoked, a coordinator's token revoked) shows
no 继续: it led to the link's address without its token, whose page said only 链接地址中没有
令牌。请从通知中完整复制链接后重新打开, sending an inspector whose link was ended back to the
very link just refused, against what the first page told them (open the newest link)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from api import tokens
from tests.workspace.helpers import (
    COORDINATOR,
    end_link,
    outbox_link,
    revoke_links,
)

BUTTON = '<a class="button"'


def _refused(http: httpx.Client, link: str, status: int, said: str) -> str:
    page = http.get(link)
    assert page.status_code == status, page.text[:300]
    assert said in page.text
    return page.text


def test_an_ended_link_sends_nobody_back_to_itself(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    end_link(base, ssc, code, member, "手机遗失")
    with httpx.Client(base_url=base) as holder:
        html = _refused(holder, outbox_link(code, member, ""), 403, "此链接已被作废并更换")
    assert BUTTON not in html and ">继续<" not in html


def test_a_revoked_link_and_a_revoked_coordinator_token_neither(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    revoke_links(engine, drawn[code][1])
    tokens.revoke(engine, COORDINATOR)
    with httpx.Client(base_url=base) as http:
        pages = [
            _refused(http, outbox_link(code, drawn[code][1], ""), 401, "您的任务链接已被撤销"),
            _refused(http, f"/w/c/open?token={ssc}", 403, "协调员令牌无效或已撤销"),
        ]
    assert all(BUTTON not in html and ">继续<" not in html for html in pages)
