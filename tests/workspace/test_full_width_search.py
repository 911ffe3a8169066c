"""A credit code or a lead's number typed with a Chinese input method in full-width mode
(９１３５…Ｇ, ＃１２) finds what the same typed in ASCII finds: the round page's 查找企业, the
leads list's 查找 (and ``leads list --search``, the same rule) and the risk classes' look-up.
Each found nothing (the look-up: the code "has characters not allowed"). On SQLite and
PostgreSQL."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from leads.search import matches
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import serve
from tests.leads.helpers import complaint
from tests.workspace.helpers import sign_in

FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}  # ASCII as a full-width IME types it


def test_a_code_or_number_typed_full_width_is_found(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    typed = code.lower().translate(FULL_WIDTH)  # ９１３５… in lower case too
    lead = complaint(engine, code)
    assert matches(typed, lead_id=lead, credit_code=code, name="", category="")
    assert matches(f"＃{lead}".translate(FULL_WIDTH), lead_id=lead, credit_code="", name="",
                   category="")  # fmt: skip
    ssc = tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        page = http.get(f"/w/c/rounds/{ROUND}", params={"q": typed})
        assert f"与“{code.lower()}”相符的企业 1 家" in page.text, page.text[-3000:]
        assert f"/w/c/rounds/{ROUND}/e/{code}" in page.text
        listed = http.get("/w/c/leads", params={"q": typed})
        assert f"与“{code.lower()}”相符的线索 1 条" in listed.text
        looked = http.get("/w/c/risk", params={"code": typed}, follow_redirects=False)
        assert (looked.status_code, looked.headers["location"]) == (303, f"/w/c/risk/{code}")
