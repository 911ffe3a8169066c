"""A member whose link expires while they fill the form in (the round's findings deadline and
the grace passed): their save is refused and what it carried is given back to copy
(``workspace.kept``), but the page told them to paste it into the page their new link opens
(请逐项选中复制，粘贴到新链接打开的页面) and to choose their photos again there, while no new
link comes: the refusal above it says an expired link's result is corrected by the bureau's
coordinator. Now the text given back, and the photos, go to the coordinator, as for a member
withdrawn from the team; nothing of the post is saved. Over a real server and in Chromium at
390 px with JavaScript off; both databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlmodel import Session

from rounds.models import Assignment, Round
from shuangsui.config import get_settings
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.workspace.helpers import PNG, csrf_of, open_assignment, typed_on_a_phone
from workspace import drafts

TYPED = "下午补充：铭牌与证书一致"
FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": TYPED}


def _expire(engine: sa.Engine) -> None:
    """The round's window and every assignment's due date long past: each link has expired."""
    past = dt.date(2025, 1, 10)
    with Session(engine) as session:
        session.execute(sa.update(Round).values(window_end=past))
        session.execute(sa.update(Assignment).values(due_on=past))
        session.commit()


def test_a_save_through_a_link_expired_meanwhile_gives_the_text_to_the_coordinator(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code = sorted(teams)[0]
    member = teams[code][0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, member)
        _expire(engine)
        r = http.post(path, data={"csrf": csrf_of(page), **FORM, "action": "draft"},
                      files={"photo": ("门头.png", PNG, "image/png")})  # fmt: skip
    assert r.status_code == 401, r.text[-500:]
    assert "此链接已过有效期" in r.text and TYPED in r.text
    assert "请逐项选中复制，交给协调员" in r.text
    assert "您选择的 1 个照片或文件未保存，请一并交给协调员" in r.text
    assert "新链接" not in r.text and "新页面" not in r.text  # no new link comes
    assert drafts.load(get_settings().home, ROUND, code, member) == {}


def test_the_text_given_back_fits_a_phone(
    live: tuple[str, dict], engine: sa.Engine, tmp_path: Path
) -> None:
    base, teams = live
    code, (member, _b) = sorted(teams.items())[0]
    seen = typed_on_a_phone(base, code, member, TYPED, lambda: _expire(engine),
                            tmp_path / "expired-mid-form.png")  # fmt: skip
    assert seen["typed"] == TYPED and seen["readonly"] is not None
    assert "本次提交未保存" in seen["banner"] and "此链接已过有效期" in seen["banner"]
    assert seen["width"] <= PHONE["width"]
    assert drafts.load(get_settings().home, ROUND, code, member) == {}
