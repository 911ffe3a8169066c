"""The enterprise page's banner after 作废原链接并重新发送 was read from the address alone:
``?relinked=ID&ended=1`` made the page say 已向…排队发送检查链接 and 原链接已作废，不能再打开 of a
member whose link was never ended and to whom nothing was sent, so a link sent to a coordinator
could make them believe a lost phone's link was dead. The banner now says only what the
database holds: a 检查链接重新发送 queued to that member for this check, and the member's link
ended, with who ended it and when. Real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, end_link


def _banner(html: str) -> str:
    return (
        html.split('id="relinked"', 1)[1].split("</section>", 1)[0]
        if 'id="relinked"' in html
        else ""
    )


def test_a_made_up_address_says_nothing_a_real_end_says_who_and_when(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member, mate = drawn[code][0], drawn[code][1]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        for made_up in (f"?relinked={member}&ended=1", f"?relinked={mate}&ended=earlier",
                        f"?relinked={member}&before=1"):  # fmt: skip
            shown = http.get(page + made_up)
            assert shown.status_code == 200
            assert _banner(shown.text) == "", made_up  # nothing was sent, nothing ended
        location = end_link(base, ssc, code, member, "手机遗失")
        assert "&ended=1" in location
        said = _banner(http.get(location).text)
        assert "排队发送检查链接" in said and "原链接已作废" in said
        assert re.search(
            r"原链接已作废（李协调，\d{4}-\d\d-\d\d \d\d:\d\d 北京时间），不能再打开", said
        )
        # the mate's link was never ended: an address claiming so for them still says nothing
        assert _banner(http.get(f"{page}?relinked={mate}&ended=1").text) == ""
        # sent to the member but only "ended" made up for another check of theirs: nothing
        other = next((c for c in sorted(drawn) if c != code and member in drawn[c]), None)
        if other is not None:
            shown = http.get(f"/w/c/rounds/{ROUND}/e/{other}?relinked={member}&ended=1")
            assert _banner(shown.text) == ""
