"""The coordinator sends a member their link again (检查链接重新发送) from the enterprise's
page (workspace/relinks.py; notifications/relink.py): one form per member, why; the page says
it was queued; a refusal says why in Chinese with the form as it was sent, and nothing is
queued. Over real HTTP, and in a real browser on a phone with JavaScript off.

Before, the page had no way to: a member who lost their notice, or whose link died with a
rotated key, waited for a coordinator to record their findings by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.models import Notification, NotificationKind
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND, final_finding
from tests.workspace.helpers import (
    coordinator_client,
    csrf_of,
    outbox_link,
    revoke_links,
    sign_in_page,
)


def _section(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]


def _reissued(engine: sa.Engine) -> list[Notification]:
    with Session(engine) as s:
        rows = s.exec(
            select(Notification).where(Notification.kind == NotificationKind.link_reissued)
        ).all()
    return list(rows)


def _names(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT inspector_id, name FROM inspector")).all())


def test_a_member_is_sent_their_link_again_from_the_page(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][1]
    name = _names(engine)[member]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        before = http.get(page)
        form = _section(before.text, "relink")
        sent = {"csrf": csrf_of(before.text), "inspector_id": member, "reason": "通知邮件误删"}
        done = http.post(f"{page}/relink", data=sent)
        after = http.get(done.headers["location"])
        again = http.post(f"{page}/relink", data=sent)  # the same reason: nothing more
        said_again = http.get(again.headers["location"])
    assert "重新发送检查链接" in form and f"重新发送链接给 {name}" in form
    assert '<label for="relink-reason-2">原因（记入审计日志）</label>' in form
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{page}?relinked={member}#relink"
    assert f"已向 {name} 排队发送检查链接" in _section(after.text, "relinked")
    (queued,) = _reissued(engine)
    assert (queued.recipient, queued.payload["credit_code"]) == (member, code)
    assert queued.payload["link"] == outbox_link(code, member, "http://127.0.0.1:8350")
    assert "此前的链接仍然有效" in queued.body and "通知邮件误删" not in queued.body
    assert again.headers["location"] == f"{page}?relinked={member}&before=1#relink"
    assert "未重复发送" in _section(said_again.text, "relinked")
    assert len(_reissued(engine)) == 1


def test_a_refusal_is_said_in_chinese_and_nothing_is_queued(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    (code, team), (done_code, done_team), *_ = sorted(drawn.items())
    name = _names(engine)[team[1]]
    revoke_links(engine, team[0])
    final_finding(engine, done_code, done_team)
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        blank = http.post(f"{page}/relink", data={"csrf": csrf, "inspector_id": team[1],
                                                  "reason": "   "})  # fmt: skip
        revoked = http.post(f"{page}/relink", data={"csrf": csrf, "inspector_id": team[0],
                                                    "reason": "通知邮件误删"})  # fmt: skip
        form = "application/x-www-form-urlencoded"
        twice = http.post(f"{page}/relink", content=f"csrf={csrf}&inspector_id={team[1]}"
                          "&reason=a&reason=b", headers={"Content-Type": form})  # fmt: skip
        closed = http.get(f"/w/c/rounds/{ROUND}/e/{done_code}")
    assert blank.status_code == 422
    refused = _section(blank.text, "relink-refused")
    assert "原因：必填" in refused
    assert f"<details open>\n    <summary>发送给 {name}</summary>" in blank.text
    assert revoked.status_code == 409
    assert "链接已被撤销" in _section(revoked.text, "relink-refused")
    assert twice.status_code == 422 and "原因：表单中填写了不止一次" in twice.text
    assert "检查结果已定稿" in _section(closed.text, "relink")
    assert "/relink" not in _section(closed.text, "relink")
    assert _reissued(engine) == []


@pytest.mark.slow
def test_on_a_phone_without_javascript_a_member_is_sent_their_link_again(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    name = _names(engine)[member]
    with headless() as browser:
        page = phone(browser).new_page()  # JavaScript off
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/rounds/{ROUND}/e/{code}")
        section = page.locator("#relink")
        section.get_by_text(f"发送给 {name}").click()
        form = section.locator("form").first
        form.get_by_label("原因（记入审计日志）").fill("更换系统密钥后原链接失效")
        page.screenshot(path=str(tmp_path / "relink-form.png"), full_page=True)
        form.get_by_role("button", name=f"重新发送链接给 {name}").click()
        said = page.locator("#relinked").inner_text()
        page.screenshot(path=str(tmp_path / "relinked.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
    assert f"已向 {name} 排队发送检查链接" in said
    assert [(n.recipient, n.payload["credit_code"]) for n in _reissued(engine)] == [(member, code)]
    assert width <= PHONE["width"]


def test_the_form_s_address_goes_back_to_its_page() -> None:
    from workspace.guards import back_link

    assert back_link(f"/w/c/rounds/{ROUND}/e/X/relink") == f"/w/c/rounds/{ROUND}/e/X"


def test_every_refusal_of_the_service_is_said_in_chinese() -> None:
    from notifications.relink import Refused
    from workspace import relinks

    assert set(relinks.SAID) == set(Refused.KINDS)


def test_a_member_not_on_the_team_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    (code, team), *_ = sorted(drawn.items())
    stranger = next(m for c, t in drawn.items() for m in t if m not in team)
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        r = http.post(f"{page}/relink", data={"csrf": csrf, "inspector_id": stranger,
                                              "reason": "通知邮件误删"})  # fmt: skip
    assert r.status_code == 409
    assert "不在这家企业的检查组中" in _section(r.text, "relink-refused")
    assert _reissued(engine) == []
