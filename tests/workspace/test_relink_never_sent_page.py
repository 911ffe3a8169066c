"""The enterprise page's 作废原链接并重新发送 for a member whose link no message has carried
out yet (their 检查任务通知 waiting in the outbox, never tried): nothing is ended, and the
page says why (docs/workspace.md, "A link never sent"); the member is sent the same link,
which opens. Once the notice has gone, the same form ends it. Before, the page ended the link
(generation 1, LinkEnded, 原链接已作废) though no one could have held it. Over HTTP to the app
served on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from notifications.dispatch import dispatch
from notifications.generations import LinkGeneration
from notifications.models import Notification, NotificationKind
from rounds.models import AuditEvent
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import serve
from tests.workspace.helpers import COORDINATOR, coordinator_client, csrf_of, sign_in


@pytest.fixture
def queued_live(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict, str]]:
    """A served app and its drawn round, the notices queued and not dispatched, and a
    coordinator's token: (base URL, teams by enterprise, token)."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    teams = drawn_round(engine)
    ssc = tokens.create_coordinator(engine, COORDINATOR, get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base:
        yield base, teams, ssc


def _banner(html: str) -> str:
    return html.split('id="relinked"', 1)[1].split("</section>", 1)[0]


def _ended(engine: sa.Engine) -> tuple[list[int], int]:
    with Session(engine) as s:
        rows = s.exec(select(LinkGeneration)).all()
        events = s.exec(select(AuditEvent).where(AuditEvent.event == "LinkEnded")).all()
    return sorted(r.generation for r in rows), len(events)


def _links(engine: sa.Engine, member: str, code: str) -> list[tuple[str, str]]:
    """The kind and link path of each of the member's messages on ``code``, oldest first."""
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(Notification.recipient == member)
                      .order_by(Notification.id)).all()  # fmt: skip
    return [(str(m.kind), m.payload["link"][m.payload["link"].index("/w/open/") :])
            for m in rows if m.payload.get("credit_code") == code]  # fmt: skip


def test_the_form_ends_no_link_that_no_message_carried_out(
    queued_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = queued_live
    (code, (member, _)), *_ = sorted(drawn.items())
    ((_, notice),) = _links(engine, member, code)
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        before = http.get(page)
        sent = {"csrf": csrf_of(before.text), "inspector_id": member, "reason": "通知发错了邮箱",
                "end_old": "1", "generation": "0"}  # fmt: skip
        done = http.post(f"{page}/relink", data=sent)
        assert done.status_code == 303, done.text
        assert "ended=1" not in done.headers["location"]
        banner = _banner(http.get(done.headers["location"]).text)
    assert "本次没有作废链接" in banner and "还没有随任何通知发出" in banner, banner
    assert "除该人员外无人能持有" in banner and "原链接已作废" not in banner
    assert "在此之前已被作废" not in banner  # nobody ended it before either
    assert _ended(engine) == ([], 0)
    kinds = [kind for kind, _ in _links(engine, member, code)]
    assert kinds == [NotificationKind.assignment, NotificationKind.link_reissued]
    assert {link for _, link in _links(engine, member, code)} == {notice}  # the same link
    dispatch(engine=engine)
    with httpx.Client(base_url=base) as inspector:
        assert sign_in(inspector, notice).status_code == 303
    with coordinator_client(base, ssc) as http:  # sent now: the same form ends it
        again = http.get(page)
        done = http.post(f"{page}/relink", data={**sent, "csrf": csrf_of(again.text)})
        assert done.status_code == 303 and "&ended=1" in done.headers["location"]
        assert "原链接已作废" in _banner(http.get(done.headers["location"]).text)
    assert _ended(engine) == ([1], 1)
