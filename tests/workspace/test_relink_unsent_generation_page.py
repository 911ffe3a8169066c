"""The enterprise page's 作废原链接并重新发送 sent for a member's link of generation 1 (made by
an earlier ending) that no message has carried out yet: nothing is ended (docs/workspace.md,
"Two endings of one link"), and the banner says why, naming the ending that made that link.
Before, it said 本页所示的原链接在此之前已被作废, which is true only of a form that showed an
ended generation (sent twice, or another coordinator's ending first): the link this form
showed was never ended. Over HTTP to the app served on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from notifications.dispatch import dispatch
from tests.findings.factories import ROUND
from tests.workspace.helpers import COORDINATOR, coordinator_client, csrf_of
from tests.workspace.test_relink_never_sent_page import _banner, _ended, queued_live

__all__ = ["queued_live"]  # the fixture, used by name


def test_a_form_for_a_new_link_not_yet_sent_says_nothing_was_ended(
    queued_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = queued_live
    (code, (member, _)), *_ = sorted(drawn.items())
    dispatch(engine=engine)  # the notice has gone: an ending ends its link
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    form = {"inspector_id": member, "reason": "手机遗失", "end_old": "1"}
    with coordinator_client(base, ssc) as http:
        first = http.get(page)
        done = http.post(f"{page}/relink", data={**form, "csrf": csrf_of(first.text),
                                                 "generation": "0"})  # fmt: skip
        assert done.status_code == 303 and "&ended=1" in done.headers["location"]
        assert _ended(engine) == ([1], 1)
        shown = http.get(page)  # generation 1 now; its 检查链接重新发送 waits, untried
        assert 'name="generation" value="1"' in shown.text
        again = http.post(f"{page}/relink", data={**form, "reason": "通知被转发给企业",
                                                  "csrf": csrf_of(shown.text),
                                                  "generation": "1"})  # fmt: skip
        assert again.status_code == 303, again.text
        banner = _banner(http.get(again.headers["location"]).text)
        assert _ended(engine) == ([1], 1)  # nothing more ended
        assert "在此之前已被作废" not in banner, banner  # the link the form showed was not
        assert "本次没有作废链接" in banner and "还没有随任何通知发出" in banner, banner
        assert f"当前的链接（{COORDINATOR} 于 " in banner and "作废原链接时生成" in banner
        stale = http.post(f"{page}/relink", data={**form, "reason": "同一表单再次提交",
                                                  "csrf": csrf_of(shown.text),
                                                  "generation": "0"})  # fmt: skip
        banner = _banner(http.get(stale.headers["location"]).text)  # it showed generation 0
        assert "本页所示的原链接在此之前已被作废" in banner and "本次没有作废链接" not in banner
    assert _ended(engine) == ([1], 1)
