"""The enterprise page's 重新发送链接给 sent twice for one member, with two reasons, before the
first's 检查链接重新发送 has left: the second takes its place (one message in the outbox), and
the page says the earlier one was withdrawn, only as far as the audit log agrees (an address
made up with ``&replaced=1`` says nothing of it). Before, both waited, holding the same link,
and the page said nothing. Over HTTP to the app served on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.dispatch import dispatch
from notifications.models import Notification, NotificationKind
from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of
from tests.workspace.test_relink_never_sent_page import _banner, queued_live

__all__ = ["queued_live"]  # the fixture, used by name
WITHDRAWN = "尚未发出的“检查链接重新发送”已撤回，由这一条代替"


def _reissued(engine: sa.Engine, member: str, code: str) -> int:
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(
            Notification.kind == NotificationKind.link_reissued,
            Notification.recipient == member)).all()  # fmt: skip
    return sum(m.payload.get("credit_code") == code for m in rows)


def test_a_second_reason_replaces_the_first_message_and_says_so(
    queued_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = queued_live
    (code, (member, _)), *_ = sorted(drawn.items())
    dispatch(engine=engine)
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        first = http.post(f"{page}/relink", data={
            "csrf": csrf_of(http.get(page).text), "inspector_id": member,
            "reason": "检查人员删除了通知"})  # fmt: skip
        assert first.status_code == 303 and "replaced" not in first.headers["location"]
        assert WITHDRAWN not in _banner(http.get(first.headers["location"]).text)
        made_up = http.get(f"{page}?relinked={member}&replaced=1")  # nothing withdrawn yet
        assert WITHDRAWN not in _banner(made_up.text)
        second = http.post(f"{page}/relink", data={
            "csrf": csrf_of(http.get(page).text), "inspector_id": member,
            "reason": "检查人员更换了手机"})  # fmt: skip
        assert second.status_code == 303 and "&replaced=1" in second.headers["location"]
        assert WITHDRAWN in _banner(http.get(second.headers["location"]).text)
    assert _reissued(engine, member, code) == 1
    assert dispatch(engine=engine).sent == 1
