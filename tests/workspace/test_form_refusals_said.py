"""What the inspector's page says when it cannot take a form, said right and in Chinese: a post
with no form token at all (a body sent as text/plain, another program's post) is not called a
page opened earlier, and a form the parser refuses is not explained in the parser's English.
Over real HTTP, both databases; nothing is saved either way."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from findings.models import FindingVersion
from tests.workspace.helpers import csrf_of, open_assignment
from tests.workspace.test_inspector_hardening import FORM, _draft_files, _first_assignment


def _said(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_post_without_a_form_token_is_not_called_an_older_page(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, code, team = _first_assignment(live)
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        csrf = csrf_of(html)
        body = "&".join(f"{k}={v}" for k, v in {"csrf": csrf, **FORM, "action": "submit"}.items())
        plain = http.post(path, content=body.encode(), headers={"content-type": "text/plain"})
        bare = http.post(path, data={**FORM, "action": "submit"})  # no token in the form
    for r in (plain, bare):
        assert r.status_code == 403
        said = _said(r.text)
        assert "不是本页面的表单" in said and "未保存任何内容" in said, said[:400]
        assert "较早打开的页面" not in said
    with Session(engine) as session:
        assert session.exec(select(FindingVersion)).all() == []
    assert _draft_files() == []


def test_a_token_we_never_gave_this_member_gets_no_text_back(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """Only a form token of this member on this check (this session's, or an earlier one's)
    has the post's text shown back as a page opened earlier: a made-up token, another
    member's on the same check, or a token of this member's made for another check is a
    post that is not theirs, refused with the draft as saved and nothing of the post shown."""
    base, teams = live
    checks = [(code, member) for code, team in sorted(teams.items()) for member in team]
    me, code, elsewhere = next((m, c, c2) for c, m in checks for c2, m2 in checks
                               if m2 == m and c2 != c)  # fmt: skip
    other = next(m for m in teams[code] if m != me)
    typed = "不应回显的文字〈script〉"
    with httpx.Client(base_url=base) as mine, httpx.Client(base_url=base) as theirs:
        _, my_other_check = open_assignment(theirs, base, elsewhere, me)
        _, other_member = open_assignment(theirs, base, code, other)
        path, html = open_assignment(mine, base, code, me)
        ours = csrf_of(html)
        nonce = ours.partition(".")[0]
        forged = {
            "made up": "x" * 40,
            "this nonce, another signature": f"{nonce}.{'0' * 64}",
            "another member's on this check": csrf_of(other_member),
            "this member's on another check": csrf_of(my_other_check),
        }
        for name, token in forged.items():
            r = mine.post(path, data={"csrf": token, **FORM, "description": typed,
                                      "action": "submit"})  # fmt: skip
            said = _said(r.text)
            assert r.status_code == 403, name
            assert "不是本页面的表单" in said and "未保存任何内容" in said, (name, said[:400])
            assert "较早打开的页面" not in said and "不应回显" not in r.text, name
        _, again = open_assignment(mine, base, code, me)  # a new session: html is older
        older = mine.post(path, data={"csrf": ours, **FORM, "description": typed,
                                      "action": "submit"})  # fmt: skip
        assert csrf_of(again) != ours
    assert older.status_code == 403 and "较早打开的页面" in _said(older.text)
    assert "不应回显的文字" in older.text  # this member's own earlier tab: given back
    with Session(engine) as session:
        assert session.exec(select(FindingVersion)).all() == []
    assert _draft_files() == []


def test_a_form_the_parser_refuses_is_said_in_chinese_alone(live: tuple[str, dict]) -> None:
    base, code, team = _first_assignment(live)
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        many = {"csrf": csrf_of(html), **FORM, **{f"f{i}": "x" for i in range(1001)}}
        r = http.post(path, data={**many, "action": "submit"})
    said = _said(r.text)
    assert r.status_code == 400 and "表单字段过多（最多 1000 项）" in said
    assert "Too many fields" not in said and "Maximum number" not in said
