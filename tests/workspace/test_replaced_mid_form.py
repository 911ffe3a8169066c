"""A member replaced on the team (docs/draw-algorithm.md §14) while they fill the form in lost
everything typed: their next save or submit was refused before the form was read, with the
plain 此会话不能打开这项任务. The refusal now gives back what that post carried, as for a link
ended meanwhile (``workspace.kept``), says who replaced them, when, why and who took the seat,
and that the text goes to the bureau's coordinator; nothing of it is saved. Only the poster
sees it: a forged token, a body not sent as a form and another browser get nothing back."""

from __future__ import annotations

import html
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from draw.replace import CAUSES
from shuangsui.config import get_settings
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.workspace.helpers import (
    COORDINATOR,
    REPLACED_NOTE,
    csrf_of,
    kept_boxes,
    open_assignment,
    post_state,
    replace_in_team,
    typed_on_a_phone,
)
from tests.workspace.test_ended_mid_form import FORM, TYPED
from workspace import drafts


def test_a_post_of_a_member_replaced_meanwhile_gives_back_what_it_carried(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, _ = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, member)
        seat = replace_in_team(engine, code, member)
        before = post_state(engine, code, member)
        form = {"csrf": csrf_of(page), **FORM, "description": TYPED, "base_version": "0",
                "action": "submit"}  # fmt: skip
        refused = http.post(path, data=form, files={"photo": ("现场.png", b"x", "image/png")})
        assert refused.status_code == 403, refused.text[:500]
        assert refused.headers["cache-control"] == "no-store"
        text = refused.text
        assert "本次提交未保存" in text and "您已被更换出本任务的检查组" in text
        assert f"协调员 {COORDINATOR} 于" in text and f"由 {seat} 接替" in text
        assert CAUSES["conflict"] in text and REPLACED_NOTE not in text  # not the note
        assert "交给协调员" in text and "的协调员，由协调员转交接替的检查人员" in text
        assert "粘贴到新链接" not in text  # they have no new link
        kept = kept_boxes(text)
        assert TYPED in kept and "<script>" not in text
        assert "限期整改" in kept and "回访企业负责人" in kept
        assert "1 个照片或文件未保存" in text
        assert post_state(engine, code, member) == before  # nothing saved, nothing audited
        forged = http.post(path, data={**form, "csrf": "0" * 64})
        assert forged.status_code == 403 and "您已被更换出本任务的检查组" in forged.text
        assert TYPED not in html.unescape(forged.text) and kept_boxes(forged.text) == []
        unsigned = http.post(path, content=f"description={TYPED}".encode(),
                             headers={"Content-Type": "text/plain"})  # fmt: skip
        assert unsigned.status_code == 403 and TYPED not in html.unescape(unsigned.text)
        asked = http.get(path, params={"description": TYPED})  # the page: refused, said why
        assert asked.status_code == 403 and "您已被更换出本任务的检查组" in asked.text
        assert TYPED not in html.unescape(asked.text)
    with httpx.Client(base_url=base) as other:  # another browser: no session, nothing echoed
        alien = other.post(path, data=form)
        assert alien.status_code == 401 and TYPED not in html.unescape(alien.text)
    assert post_state(engine, code, member) == before


def test_a_member_never_on_the_team_still_gets_the_plain_refusal(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """A session of this check whose member is off the team with no replacement recorded:
    nothing given back, nothing said of anyone."""
    base, drawn, _ = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, member)
        with engine.begin() as c:  # the member taken off this team without a §14 record
            c.execute(sa.text("UPDATE assignment SET inspector_id = 'nobody-0' "
                              "WHERE round_key = :r AND credit_code = :c AND inspector_id = :m"),
                      {"r": ROUND, "c": code, "m": member})  # fmt: skip
        refused = http.post(path, data={"csrf": csrf_of(page), **FORM, "description": TYPED})
    assert refused.status_code == 403 and "此会话不能打开这项任务" in refused.text
    assert TYPED not in html.unescape(refused.text)


@pytest.mark.slow
def test_on_a_phone_without_javascript_a_replaced_member_gets_the_text_to_hand_over(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, drawn, _ = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][1]
    seen: dict[str, str] = {}

    def replace() -> None:
        seen["seat"] = replace_in_team(engine, code, member)

    typed = typed_on_a_phone(base, code, member, TYPED, replace, tmp_path / "replaced.png")
    assert typed["typed"] == TYPED and typed["readonly"] is not None
    assert "本次提交未保存" in typed["banner"] and f"由 {seen['seat']} 接替" in typed["banner"]
    assert typed["width"] <= PHONE["width"]
    assert TYPED not in html.unescape(typed["reloaded"])
    assert "您已被更换出本任务的检查组" in typed["reloaded"]
    assert drafts.load(get_settings().home, ROUND, code, member) == {}
