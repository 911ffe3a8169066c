"""A NUL in a coordinator page's address or in a form's member field. On PostgreSQL, which
cannot compare a NUL, the database's refusal was answered as the API answers it, an English
problem document ('a value in the request cannot be stored or looked up'), where a person
reads the page: /w/c/rounds/{key}/e/%00, the relink and the replace forms with the member's
hidden id altered to end in %00 (the refusal looked the id up to name the member). On SQLite
the forms named the id with its NUL. Now every workspace path answers it with a page in
Chinese, and the two forms say the member's id is wrong, nothing queued."""

from __future__ import annotations

import sqlalchemy as sa

from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of

WRONG_ID = "表单中的执法人员编号有误，请刷新页面后重试"


def _reissued(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        counted = sa.text("SELECT count(*) FROM notification WHERE kind = 'link_reissued'")
        return int(conn.execute(counted).scalar_one())


def test_a_nul_in_an_address_or_a_member_field_is_said_on_a_page(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        for path in (f"/w/c/rounds/{ROUND}/e/%00", "/w/c/rounds/%00"):
            r = http.get(path)
            assert r.status_code in (404, 422), r.text[:300]
            assert r.headers["content-type"].startswith("text/html"), r.text[:300]
            assert '<html lang="zh-CN">' in r.text and "a value in the request" not in r.text
        relinked = http.post(f"{page}/relink", data={"csrf": csrf, "inspector_id": member + "\x00",
                                                     "reason": "手机遗失", "end_old": "1",
                                                     "generation": "0"})  # fmt: skip
        replaced = http.post(f"{page}/replace", data={"csrf": csrf, "cause": "conflict",
                                                      "inspector_id": member + "\x00",
                                                      "note": "申报回避"})  # fmt: skip
    for r in (relinked, replaced):
        assert r.status_code == 422, r.text[:300]
        assert r.headers["content-type"].startswith("text/html"), r.text[:300]
        assert WRONG_ID in r.text and "\x00" not in r.text
    assert _reissued(engine) == 0
