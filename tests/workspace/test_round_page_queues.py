"""The round page's 待签字 and 逾期 queues, below its list of enterprises, are paged as the list
is: they listed every enterprise waiting or late, so a round of thousands, after its window,
was again a page of megabytes on a phone, whatever ?page= said. Each now lists a page's worth
(``overview.ROUND_PAGE``, made small here) and says how many more, with a link to the list
kept to that filter, where every one of them is a page at a time. Over HTTP, both databases."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from findings.service import submit
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, finding
from tests.workspace.helpers import coordinator_client
from workspace import overview

PAGE = f"/w/c/rounds/{ROUND}"


def _section(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]


def _listed(html: str) -> list[str]:
    return re.findall(r'href="/w/c/rounds/[^"/]+/e/([0-9A-Z]{18})"', html)


def test_the_queues_list_a_page_and_lead_to_the_rest(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams, ssc = coordinator_live
    codes = sorted(teams)
    assert len(codes) >= 4, codes
    for code in codes[:3]:  # three wait for their second signature
        submit(engine, round_key=ROUND, credit_code=code, data=finding(),
               submitted_by=f"inspector:{teams[code][0]}", signers=[teams[code][0]])  # fmt: skip
    past = dt.datetime.now(ZoneInfo(get_settings().timezone)).date() - dt.timedelta(days=10)
    with engine.begin() as conn:  # and every check of the round is past its date
        conn.execute(sa.text("UPDATE assignment SET due_on = :d"), {"d": past})
    monkeypatch.setattr(overview, "ROUND_PAGE", 2)
    with coordinator_client(base, ssc) as http:
        page = http.get(PAGE).text
        queue, late = _section(page, "signoff-queue"), _section(page, "late")
        assert "待签字（3）" in queue
        listed = _listed(queue)
        assert len(listed) == 2 and set(listed) < set(codes[:3]), listed
        assert "另有 1 家未列出" in queue
        assert f'href="{PAGE}?show=signing#enterprises"' in queue
        assert f"逾期（{len(codes)}）" in late
        assert len(_listed(late)) == 2
        assert f"另有 {len(codes) - 2} 家未列出" in late
        assert f'href="{PAGE}?show=late#enterprises"' in late
        # the list each leads to holds them all, a page at a time
        signing = http.get(PAGE, params={"show": "signing"}).text
        assert "第 1 页，共 2 页（第 1–2 家，共 3 家）" in signing
