"""The banners a form's redirect asks for (``?started=KEY``, ``?requeued=N``, a lead's
``?round=KEY``) say only a round key or a count: a link made elsewhere cannot put its own words
on the bureau's pages (``/w/c/?started=系统升级，请访问…`` showed them as the bureau's banner)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import sqlalchemy as sa

from findings.dates import today
from leads import service
from leads.schemas import LeadIn
from tests.findings.factories import ROUND
from tests.workspace.helpers import sign_in

WORDS = "系统升级，请访问 http://evil.example 重新登录"


def _signed_in(http: httpx.Client, ssc: str) -> None:
    assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303


def _lead(engine: sa.Engine, code: str) -> int:
    data = {"source": "complaint", "credit_code": code, "category": "虚假认证",
            "received_on": today(), "allegation": "未加施CCC标志"}  # fmt: skip
    lead = service.receive(engine, LeadIn.model_validate(data), by="李协调")
    assert lead.id is not None
    return lead.id


def test_a_banner_says_a_round_key_or_a_count_and_never_the_words_of_a_link(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, teams, ssc = coordinator_live
    words = quote(WORDS)
    lead_id = _lead(engine, next(iter(teams)))
    with httpx.Client(base_url=base) as http:
        _signed_in(http, ssc)
        month = http.get(f"/w/c/?started={words}")
        round_page = http.get(f"/w/c/rounds/{ROUND}?requeued={words}")
        lead_page = http.get(f"/w/c/leads/{lead_id}?done=urgent&round={words}")
        for page in (month, round_page, lead_page):
            assert page.status_code == 200
            assert "evil.example" not in page.text and "系统升级" not in page.text
        # what the forms' own redirects say is still said
        assert f"临时轮次 {ROUND} 已开始提交" in http.get(f"/w/c/?started={ROUND}").text
        assert "已重新排队 2 条" in http.get(f"/w/c/rounds/{ROUND}?requeued=2").text
        urgent = http.get(f"/w/c/leads/{lead_id}?done=urgent&round={ROUND}").text
        assert f'href="/w/c/rounds/{ROUND}">{ROUND}</a>' in urgent
