"""A draft saved through a link a coordinator then ended (作废原链接并重新发送: a notice forwarded
to the enterprise, a phone lost) was shown to the member on their new link as their own, its
result, description and photos filled in, with nothing saying who may have written it: the
enterprise holding the forwarded link could prepare the finding the member would submit. The
page now says the draft was saved through the ended link and asks the member to check every
item; their next save makes it theirs and the warning goes."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.models import Notification, NotificationKind
from tests.findings.factories import ROUND
from tests.workspace.helpers import (
    csrf_of,
    end_link,
    open_assignment,
    outbox_link,
    sign_in,
)

WARNING = "下方的草稿是通过已作废的原链接保存的"
WRITTEN = "企业代填：现场无问题"
FORM = {"result": "no_problem", "check_date": "2026-12-10", "action": "draft"}


def _save(http: httpx.Client, path: str, html: str, description: str) -> None:
    r = http.post(path, data={"csrf": csrf_of(html), **FORM, "description": description})
    assert r.status_code == 303, r.text[:300]


def _new_link(engine: sa.Engine, member: str) -> str:
    with Session(engine) as s:
        sent = s.exec(select(Notification).where(
            Notification.kind == NotificationKind.link_reissued,
            Notification.recipient == member)).one()  # fmt: skip
    link = sent.payload["link"]
    return link[link.index("/w/open/") :]


def test_a_draft_saved_through_an_ended_link_is_said_to_be_so(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member, mate = drawn[code][0], drawn[code][1]
    with httpx.Client(base_url=base) as holder, httpx.Client(base_url=base) as other:
        _save(holder, *open_assignment(holder, base, code, member), WRITTEN)
        path, html = open_assignment(other, base, code, mate)
        _save(other, path, html, "同组人员自己的草稿")
    end_link(base, ssc, code, member, "通知被转发给企业")
    with httpx.Client(base_url=base) as me:
        opened = sign_in(me, _new_link(engine, member))
        assert opened.status_code == 303, opened.text[:300]
        shown = me.get(opened.headers["location"])
        assert WARNING in shown.text and WRITTEN in shown.text
        _save(me, opened.headers["location"], shown.text, "本人核对后重写")
        assert WARNING not in me.get(opened.headers["location"]).text
    with httpx.Client(base_url=base) as other:  # another member's link, never ended
        assert sign_in(other, outbox_link(code, mate, "")).status_code == 303
        theirs = other.get(f"/w/a/{ROUND}/{code}").text
        assert "同组人员自己的草稿" in theirs and WARNING not in theirs
