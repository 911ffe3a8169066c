"""A member whose link a coordinator ends while they fill the form in (作废原链接并重新发送)
lost everything typed since their last save: their next save or submit, through the ended
link, was answered with the page a dead link shows. The refusal now gives back what that post
carried, each field escaped in a read-only box to select and copy, says the link was replaced,
by whom and when, and whether the new link has been sent; nothing of it is saved. Only the
poster sees it: a post without the session's CSRF token gets the plain refusal."""

from __future__ import annotations

import html
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from notifications.dispatch import dispatch
from shuangsui.config import get_settings
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.workspace.helpers import (
    COORDINATOR,
    PNG,
    csrf_of,
    end_link,
    kept_boxes,
    open_assignment,
    post_state,
    typed_on_a_phone,
)
from workspace import drafts

SAVED = "上午已保存的草稿"
TYPED = '下午补充：现场发现<script>alert("x")</script>证书 CCC-1 & 标志不符'
FORM = {"result": "ordered_to_rectify", "check_date": "2026-12-10",
        "internal_note": "回访企业负责人", "measure_kind": "rectify",
        "measure_deadline": "2026-12-30", "measure_text": "限期整改"}  # fmt: skip


def test_a_post_through_a_link_ended_meanwhile_gives_back_what_it_carried(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, member)
        saved = http.post(path, data={"csrf": csrf_of(page), "result": "no_problem",
                                      "check_date": "2026-12-09", "description": SAVED,
                                      "action": "draft"})  # fmt: skip
        assert saved.status_code == 303
        end_link(base, ssc, code, member, "手机遗失")
        before = post_state(engine, code, member)
        form = {"csrf": csrf_of(page), **FORM, "description": TYPED, "base_version": "0",
                "action": "submit"}  # fmt: skip
        photo = {"photo": ("现场.png", PNG, "image/png")}
        refused = http.post(path, data=form, files=photo)
        assert refused.status_code == 403, refused.text[:500]
        assert refused.headers["cache-control"] == "no-store"
        text = refused.text
        assert "本次提交未保存" in text and "此链接已被作废并更换" in text
        assert f"协调员 {COORDINATOR} 于" in text and "新的链接正在发给本任务的检查人员" in text
        kept = kept_boxes(text)
        assert TYPED in kept and "<script>" not in text  # escaped, in a box of its own
        assert "限期整改" in kept and "回访企业负责人" in kept and "2026-12-30" in kept
        assert "发现问题，依法责令立即改正或者限期改正（ordered_to_rectify）" in kept
        assert "责令限期改正（rectify）" in kept
        assert "1 个照片或文件未保存" in text
        assert post_state(engine, code, member) == before  # nothing saved, nothing audited
        assert before[0]["description"] == SAVED
        assert dispatch(engine=engine).sent == 1  # the new link leaves: the page says when
        again = http.post(path, data=form)
        assert "新的链接已于" in again.text and "发给本任务的检查人员" in again.text
        assert TYPED in kept_boxes(again.text)
        forged = http.post(path, data={**form, "csrf": "0" * 64})  # not this session's token
        assert forged.status_code == 403 and "此链接已被作废并更换" in forged.text
        assert TYPED not in html.unescape(forged.text) and kept_boxes(forged.text) == []
        unsigned = http.post(path, content=f"description={TYPED}".encode(),
                             headers={"Content-Type": "text/plain"})  # fmt: skip
        assert unsigned.status_code == 403 and kept_boxes(unsigned.text) == []
        assert TYPED not in html.unescape(unsigned.text)
        asked = http.get(path, params={"description": TYPED})  # nothing read from the address
        assert asked.status_code == 403 and TYPED not in html.unescape(asked.text)
    with httpx.Client(base_url=base) as other:  # another browser: no session, nothing echoed
        alien = other.post(path, data=form)
        assert alien.status_code == 401 and TYPED not in html.unescape(alien.text)
    assert post_state(engine, code, member)[:3] == before[:3]


@pytest.mark.slow
def test_on_a_phone_without_javascript_the_typed_text_comes_back_to_copy(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][1]
    seen = typed_on_a_phone(base, code, member, TYPED,
                            lambda: end_link(base, ssc, code, member, "通知被转发给企业"),
                            tmp_path / "ended-mid-form.png")  # fmt: skip
    assert seen["typed"] == TYPED and seen["readonly"] is not None
    assert "本次提交未保存" in seen["banner"] and "此链接已被作废并更换" in seen["banner"]
    assert seen["width"] <= PHONE["width"]
    assert TYPED not in html.unescape(seen["reloaded"])
    assert drafts.load(get_settings().home, ROUND, code, member) == {}


def test_a_tab_opened_before_the_link_was_opened_again_gets_its_text_back_too(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """Two tabs: the notice's link opened in one, then again in another (a new session), the
    link then ended. The first tab's post carries the earlier session's form token, signed
    for this member on this check: given back with our own Origin and with neither Origin
    nor Referer (an older browser, a privacy setting); a made-up token, or the token of
    another member's page on the same check, gets the plain refusal, Origin or not."""
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member, colleague = drawn[code][1], drawn[code][0]
    with httpx.Client(base_url=base) as theirs:
        _, their_page = open_assignment(theirs, base, code, colleague)
    with httpx.Client(base_url=base) as http:
        path, first_tab = open_assignment(http, base, code, member)
        open_assignment(http, base, code, member)  # the second tab: the cookie is its session
        end_link(base, ssc, code, member, "手机遗失")
        form = {"csrf": csrf_of(first_tab), **FORM, "description": TYPED, "action": "draft"}
        mine = http.post(path, data=form, headers={"Origin": base})
        bare = http.post(path, data=form)
        ours = {"Origin": base}
        made_up = http.post(path, data={**form, "csrf": "x." + "0" * 64}, headers=ours)
        other = http.post(path, data={**form, "csrf": csrf_of(their_page)}, headers=ours)
        foreign = http.post(path, data=form, headers={"Origin": "http://attacker.example"})
    assert mine.status_code == 403 and TYPED in kept_boxes(mine.text)
    assert bare.status_code == 403 and TYPED in kept_boxes(bare.text)
    for refused in (made_up, other, foreign):
        assert refused.status_code == 403 and kept_boxes(refused.text) == []
        assert TYPED not in html.unescape(refused.text)
    assert drafts.load(get_settings().home, ROUND, code, member) == {}
