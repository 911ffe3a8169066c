"""The enterprise page's relink form ends the member's old link too (作废原链接并重新发送;
workspace/relinks.py, notifications/generations.py): the old link and the pages it opened stop
at once, the member is sent a new one, nothing else changes. The same form sent twice, or two
coordinators' forms from the same page, end one generation. Before, the page could only send
the same link again, which the one who had the forwarded link could still open."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.generations import LinkGeneration
from notifications.models import Notification, NotificationKind
from rounds.models import AuditEvent
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of, outbox_link, sign_in, sign_in_page

REPLACED_ZH = "此链接已被作废并更换"


def _section(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]


def _generations(engine: sa.Engine) -> list[tuple[str, str, int]]:
    with Session(engine) as s:
        rows = s.exec(select(LinkGeneration)).all()
    return sorted((r.credit_code, r.inspector_id, r.generation) for r in rows)


def _reissued(engine: sa.Engine) -> list[Notification]:
    with Session(engine) as s:
        return list(s.exec(select(Notification).where(
            Notification.kind == NotificationKind.link_reissued)).all())  # fmt: skip


def test_the_form_ends_the_old_link_once_for_a_double_post_and_two_coordinators(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member, mate = drawn[code][0], drawn[code][1]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with httpx.Client(base_url=base) as holder:
        assert sign_in(holder, outbox_link(code, member, "")).status_code == 303
        assert holder.get(f"/w/a/{ROUND}/{code}").status_code == 200
        with coordinator_client(base, ssc) as http:
            before = http.get(page)
            form = _section(before.text, "relink")
            assert "作废原链接并重新发送" in form and "立即无法打开" in form
            sent = {"csrf": csrf_of(before.text), "inspector_id": member, "reason": "手机遗失",
                    "end_old": "1", "generation": "0"}  # fmt: skip
            done = http.post(f"{page}/relink", data=sent)
            again = http.post(f"{page}/relink", data=sent)  # the same form twice
            other = http.post(f"{page}/relink", data={**sent, "reason": "通知被转发"})  # a 2nd
            after = http.get(done.headers["location"])
        assert done.status_code == 303, done.text
        assert "&ended=1" in done.headers["location"]
        assert "原链接已作废" in _section(after.text, "relinked")
        assert again.status_code == 303 and "ended=1" not in again.headers["location"]
        assert other.status_code == 303 and "ended=1" not in other.headers["location"]
        with coordinator_client(base, ssc) as http:  # what the page says of the second form
            late = _section(http.get(other.headers["location"]).text, "relinked")
        assert "在此之前已被作废" in late and "本次没有再作废" in late
        assert "原链接已作废，不能再打开" not in late
        assert _generations(engine) == [(code, member, 1)]
        with Session(engine) as s:
            ended = s.exec(select(AuditEvent).where(AuditEvent.event == "LinkEnded")).all()
        assert len(ended) == 1
        refused = holder.get(f"/w/a/{ROUND}/{code}")  # the session the old link opened
        assert refused.status_code == 403 and REPLACED_ZH in refused.text
        assert member not in refused.text
        again_opened = holder.get(outbox_link(code, member, ""))
        assert again_opened.status_code == 403 and REPLACED_ZH in again_opened.text
    with httpx.Client(base_url=base) as teammate:
        assert sign_in(teammate, outbox_link(code, mate, "")).status_code == 303
    reissued = [(n.recipient, n.payload["earlier"]) for n in _reissued(engine)]
    assert (member, "ended") in reissued


@pytest.mark.slow
def test_on_a_phone_without_javascript_the_old_link_is_ended(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][1]
    with engine.connect() as conn:
        name = conn.execute(sa.text("SELECT name FROM inspector WHERE inspector_id = :i"),
                            {"i": member}).scalar_one()  # fmt: skip
    with headless() as browser:
        page = phone(browser).new_page()  # JavaScript off
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/rounds/{ROUND}/e/{code}")
        section = page.locator("#relink")
        section.get_by_text(f"发送给 {name}").click()
        form = section.locator("form").nth(1)
        form.get_by_label("原因（记入审计日志）").fill("通知被转发给企业")
        form.get_by_label("作废原链接并重新发送").check()
        page.screenshot(path=str(tmp_path / "end-old-form.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        form.get_by_role("button", name=f"重新发送链接给 {name}").click()
        said = page.locator("#relinked").inner_text()
    assert "原链接已作废" in said
    assert width <= PHONE["width"]
    assert _generations(engine) == [(code, member, 1)]


def test_two_coordinators_at_once_end_one_generation(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both opened the page (generation 0) and send the form: the first held before its
    write while the second's is done; the first then ends nothing more (the order forced)."""
    from tests.races import held_while
    from workspace import relinks

    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as first, coordinator_client(base, ssc) as second:
        forms = [
            {"csrf": csrf_of(http.get(page).text), "inspector_id": member, "reason": why,
             "end_old": "1", "generation": "0"}
            for http, why in ((first, "手机遗失"), (second, "通知被转发给企业"))
        ]  # fmt: skip
        seconds: list[httpx.Response] = []
        firsts = held_while(
            monkeypatch, (relinks, "link_refusals"),
            lambda: first.post(f"{page}/relink", data=forms[0]),
            meanwhile=lambda: seconds.append(second.post(f"{page}/relink", data=forms[1])),
        )  # fmt: skip
    assert "ended=1" in seconds[0].headers["location"]
    assert firsts.status_code == 303 and "ended=1" not in firsts.headers["location"]
    assert _generations(engine) == [(code, member, 1)]
