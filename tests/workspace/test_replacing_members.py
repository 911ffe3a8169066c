"""The coordinator withdraws a member of a drawn team from the enterprise's page
(docs/draw-algorithm.md §14; workspace/replacements.py): a cause, a reason, and the seat goes
to the inspector the round's seed picks. The page then shows the new team and the
replacements; a refusal says why in Chinese, with the form as it was sent; nothing is written
then. Over real HTTP, and in a real browser on a phone with JavaScript off."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from draw.replace import CAUSES
from rounds import replacements as service
from rounds.models import Assignment, AuditEvent, Round, RoundStatus, TeamChange
from shuangsui.errors import UserError
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND, final_finding, teams
from tests.races import held_while
from tests.workspace.helpers import COORDINATOR, coordinator_client, csrf_of, sign_in_page
from workspace import replacements

NAME = re.compile(r"检查员\d+")


def _count(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(TeamChange)).all())


def _section(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]


def _team_shown(html: str) -> list[str]:
    """The names of the team as the enterprise card lists them."""
    card = _section(html, "enterprise").split("<dt>检查组</dt>", 1)[1].split("</dd>", 1)[0]
    return NAME.findall(card)


def _name(inspector_id: str) -> str:
    return f"检查员{int(inspector_id.removeprefix('FJ'))}"  # tests.rounds.factories


def test_a_member_withdrawn_from_the_page_gives_the_seat_to_the_seeds_pick(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code, (lead, second) = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        round_before = http.get(f"/w/c/rounds/{ROUND}")
        before = http.get(page)
        forms = re.findall(
            r'<form method="post" action="([^"]+)">', _section(before.text, "replace")
        )
        ids = re.findall(r'name="inspector_id" value="([^"]+)"', _section(before.text, "replace"))
        sent = {
            "csrf": csrf_of(before.text),
            "inspector_id": second,
            "cause": "conflict",
            "note": "其配偶在该企业任职，申请回避",
        }
        done = http.post(f"{page}/replace", data=sent)
        after = http.get(done.headers["location"])
        the_round = http.get(f"/w/c/rounds/{ROUND}")
    # a form for each member, the causes in Chinese, a reason, and what the form cannot do
    assert forms == [f"{page}/replace"] * 2 and ids == [lead, second]
    form = _section(before.text, "replace")
    for label in ("回避", "不能到场", "调离"):
        assert re.search(rf'type="radio"[^>]*>{label} ', form), label
    assert "更换组员" in form and "任何人都不能指定" in form and "随机种子" in form
    assert "公开材料中公布" in form and "审计日志" in form
    assert "无" in _section(before.text, "changes")
    # recorded: 303 to the page, which shows the team as it now stands and the record
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{page}?replaced=1"
    now = teams(engine)[code]
    assert now[0] == lead and now[1] not in (lead, second)
    assert _team_shown(after.text) == [_name(lead), _name(now[1])]
    banner = _section(after.text, "replaced")
    assert f"{_name(second)}（回避）退出检查组，由 {_name(now[1])} 接替" in banner
    record = _section(after.text, "changes")
    for said in (
        "本轮第 1 次更换",
        _name(second),
        "回避",
        "其配偶在该企业任职，申请回避",
        f"协调员 {COORDINATOR}",
        "北京时间",
        _name(now[1]),
    ):
        assert said in record, said
    # the round page counts the round's replacements (none: nothing said of them) and links
    # to the enterprise concerned
    assert round_before.status_code == 200 and 'id="replacements"' not in round_before.text
    summary = _section(the_round.text, "replacements")
    assert "本轮共 1 次" in summary and f'href="{page}#changes"' in summary
    # audited, with who recorded it
    with Session(engine) as s:
        (event,) = s.exec(select(AuditEvent).where(AuditEvent.event == "MemberReplaced")).all()
    said = json.loads(event.payload)
    assert (said["withdrawn"], said["replacement"], said["cause"]) == (second, now[1], "conflict")
    assert said["recorded_by"] == COORDINATOR and said["note"] == sent["note"]


def _conflicts_declared_since_the_draw(engine: sa.Engine, credit_code: str) -> None:
    """Every inspector declares a conflict with ``credit_code`` in the registry after the
    round's commitment: the pick, made on the committed frame, cannot see it."""
    import datetime as dt

    from registry.models import Conflict, Inspector

    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s:
        for who in s.exec(select(Inspector.inspector_id)).all():
            s.add(Conflict(inspector_id=who, credit_code=credit_code, reason="近亲属任职",
                           declared_on=now.date(), updated_at=now))  # fmt: skip
        s.commit()


def test_a_replacement_the_registry_now_holds_a_conflict_against_is_flagged(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code, (lead, _second) = sorted(drawn.items())[0]
    _conflicts_declared_since_the_draw(engine, code)
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        sent = {"csrf": csrf_of(http.get(page).text), "inspector_id": lead,
                "cause": "unavailable", "note": "病假"}  # fmt: skip
        done = http.post(f"{page}/replace", data=sent)
        after = http.get(done.headers["location"])
        forged = http.get(f"{page}?replaced=1&caution=请拨打电话")
    new = teams(engine)[code][0]
    assert done.headers["location"] == f"{page}?replaced=1&caution=conflict"
    caution = _section(after.text, "replaced-caution")
    assert f"{_name(new)}在名录中登记有与该企业的利害关系" in caution and "再更换一次" in caution
    assert 'id="replaced"' in forged.text and 'id="replaced-caution"' not in forged.text
    assert "请拨打电话" not in forged.text


def test_a_refused_form_is_said_in_chinese_and_kept_and_nothing_is_written(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    (done, done_team), (code, (lead, second)), *_ = sorted(drawn.items())
    final_finding(engine, done, done_team)
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)

        def post(where: str, **fields: str) -> httpx.Response:
            return http.post(f"{where}/replace", data={"csrf": csrf, **fields})

        blank = post(page, inspector_id=second, cause="left", note="   ")
        no_cause = post(page, inspector_id=second, note="调往外地")
        long = post(page, inspector_id=second, cause="left", note="长" * 501)
        final = post(
            f"/w/c/rounds/{ROUND}/e/{done}",
            inspector_id=done_team[0],
            cause="conflict",
            note="回避",
        )
        final_page = http.get(f"/w/c/rounds/{ROUND}/e/{done}")
        stranger = post(page, inspector_id="FJ9999", cause="conflict", note="回避")
        before = _count(engine)
        first = post(page, inspector_id=second, cause="unavailable", note="住院")
        twice = post(page, inspector_id=second, cause="unavailable", note="住院")
        no_csrf = http.post(
            f"{page}/replace", data={"inspector_id": lead, "cause": "left", "note": "调离"}
        )
        elsewhere = post(
            f"/w/c/rounds/{ROUND}/e/91350100MA2Y000000",
            inspector_id=lead,
            cause="left",
            note="调离",
        )
    with httpx.Client(base_url=base) as nobody:
        signed_out = nobody.post(
            f"{page}/replace",
            data={"csrf": csrf, "inspector_id": lead, "cause": "left", "note": "调离"},
        )

    def refused(r: httpx.Response) -> str:
        return _section(r.text, "replace-refused")

    assert blank.status_code == 422 and "理由：必填" in refused(blank)
    # the form comes back as it was sent: its member's form open, the cause chosen
    kept = _section(blank.text, "replace")
    opened = kept.split("<details open>", 1)[1].split("</details>", 1)[0]
    assert f'value="{second}"' in opened and 'value="left" required checked' in opened
    assert no_cause.status_code == 422 and "更换原因：请选择 回避、不能到场 或 调离" in refused(
        no_cause
    )
    assert 'value="调往外地"' not in no_cause.text and ">调往外地</textarea>" in no_cause.text
    assert long.status_code == 422 and "理由：过长，最多 500 个字" in refused(long)
    assert final.status_code == 409 and "检查结果已定稿，检查组不能再更换" in refused(final)
    # a final finding's page offers no form, and says why
    assert "<form" not in _section(final_page.text, "replace")
    assert "检查结果已定稿，检查组不能再更换" in _section(final_page.text, "replace-closed")
    assert stranger.status_code == 409 and "已不在该企业的检查组中" in refused(stranger)
    assert before == 0  # every refusal above wrote nothing
    # the same withdrawal sent twice (a double click): one replacement, the second refused
    assert first.status_code == 303
    assert twice.status_code == 409 and f"{_name(second)} 已不在该企业的检查组中" in refused(twice)
    assert _count(engine) == 1
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    assert (
        elsewhere.status_code == 404 and "没有企业 91350100MA2Y000000 的检查任务" in elsewhere.text
    )
    assert signed_out.status_code == 401
    assert _count(engine) == 1


def test_a_seat_whose_date_is_gone_is_handed_on_with_a_new_date_from_the_form(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """Before, the form had no date: a seat whose date was gone went to the replacement late
    the day they were named. The page now asks for a new date then (in Chinese, the form kept
    as sent), checks the one given, and records it for the whole team."""
    import datetime as dt

    base, drawn, ssc = coordinator_live
    code, (lead, second) = sorted(drawn.items())[0]
    gone = service.bureau_today() - dt.timedelta(days=1)
    with Session(engine) as s:
        s.execute(sa.update(Assignment).where(Assignment.credit_code == code).values(due_on=gone))
        s.commit()
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    new_date = service.bureau_today() + dt.timedelta(days=21)
    with coordinator_client(base, ssc) as http:
        shown = http.get(page)
        csrf = csrf_of(shown.text)
        form = {"csrf": csrf, "inspector_id": second, "cause": "unavailable", "note": "病假"}
        missing = http.post(f"{page}/replace", data=form)
        past = http.post(f"{page}/replace", data=form | {"due_on": gone.isoformat()})
        typed = http.post(f"{page}/replace", data=form | {"due_on": "下周五"})
        done = http.post(f"{page}/replace", data=form | {"due_on": new_date.isoformat()})
        after = http.get(done.headers["location"])
    assert re.search(r'<label for="due-on-1">新的完成期限[^<]*</label>\s*<input type="date" '
                     r'id="due-on-1" name="due_on"', _section(shown.text, "replace"))  # fmt: skip
    said = _section(missing.text, "replace-refused")
    assert missing.status_code == 422 and "原定的完成期限已过" in said and _name(second) in said
    assert 'value="unavailable" required checked' in _section(missing.text, "replace")
    assert past.status_code == 422 and "新的完成期限：不能早于今天" in past.text
    assert typed.status_code == 422 and "请按 年-月-日 填写日期" in typed.text
    assert 'value="下周五"' in _section(typed.text, "replace")  # kept as sent
    assert done.status_code == 303, done.text
    assert f"全组的完成期限改为 {new_date}" in _section(after.text, "replaced")
    assert f"改为 {new_date}" in _section(after.text, "changes")
    with Session(engine) as s:
        dues = s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all()
    assert list(dues) == [new_date, new_date] and teams(engine)[code][0] == lead


def test_when_no_inspector_is_left_the_page_says_so_and_the_member_stays(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """Members of one seat withdrawn as transferred (调离: kept off every later pick of the
    round), one after another, until nobody is left to take the seat."""
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    for _ in range(30):  # the frame has 12 inspectors: never this many replacements
        seat = teams(engine)[code][1]
        try:
            service.replace_member(
                engine, ROUND, code, seat, cause="left", note="调离", recorded_by=COORDINATOR
            )
        except UserError as exc:
            assert "no inspector left" in str(exc)
            break
    else:
        pytest.fail("a seat was always filled")
    before = _count(engine)
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        r = http.post(
            f"{page}/replace",
            data={"csrf": csrf, "inspector_id": seat, "cause": "left", "note": "调离"},
        )
    assert r.status_code == 409
    assert "没有可以接替的执法人员" in _section(r.text, "replace-refused")
    assert teams(engine)[code][1] == seat and _count(engine) == before
    assert _name(seat) in _team_shown(r.text)


def test_a_round_no_longer_drawn_offers_no_replacement(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        with Session(engine) as s:  # closed: its results published
            rnd = s.get(Round, ROUND)
            assert rnd is not None
            rnd.status = RoundStatus.closed
            s.add(rnd)
            s.commit()
        shown = http.get(page)
        r = http.post(
            f"{page}/replace",
            data={"csrf": csrf, "inspector_id": team[0], "cause": "left", "note": "调离"},
        )
    assert "<form" not in _section(shown.text, "replace")
    assert "检查组不能再更换" in _section(shown.text, "replace-closed")
    assert r.status_code == 409 and "检查组不能再更换" in _section(r.text, "replace-refused")
    assert _count(engine) == 0


def test_a_withdrawal_whose_token_is_revoked_meanwhile_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coordinator's token revoked after the page let the form in and before the write:
    the page of a revoked token, and nothing written (the check runs in the write's own
    transaction)."""
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc, timeout=60) as http:
        form = {
            "csrf": csrf_of(http.get(page).text),
            "inspector_id": team[0],
            "cause": "unavailable",
            "note": "病假",
        }
        r = held_while(
            monkeypatch,
            (replacements, "replace_member"),  # the form read, the write not begun
            lambda: http.post(f"{page}/replace", data=form),
            meanwhile=lambda: tokens.revoke(engine, COORDINATOR),
        )
    assert r.status_code == 401 and "协调员令牌已被撤销" in r.text, r.text
    assert teams(engine)[code] == team and _count(engine) == 0


def test_every_refusal_of_the_service_is_said_in_chinese() -> None:
    """Each kind the API reads a refusal as has the page's words (the unread one included)."""
    from api.replacements import RACED, REFUSALS, UNREAD

    assert set(REFUSALS) == set(service.Refused.KINDS)
    kinds = {r.kind for r in REFUSALS.values()} | {RACED.kind, UNREAD.kind}
    redate_only = {"reason-missing", "reason-long", "reason-unprintable", "due-same"}  # its form's
    assert kinds - redate_only == set(replacements.SAID)
    assert set(replacements.CAUSE_LABELS) == set(CAUSES)
    assert set(replacements.CAUTION_SAID) == set(service.CAUTIONS)


@pytest.mark.slow
def test_on_a_phone_without_javascript_a_member_is_replaced_and_a_refusal_kept(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, drawn, ssc = coordinator_live
    code, (lead, second) = sorted(drawn.items())[0]
    with headless() as browser:
        page = phone(browser).new_page()  # JavaScript off
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/rounds/{ROUND}/e/{code}")
        toggles = page.locator("summary").all()
        tap = min(t.bounding_box()["height"] for t in toggles)  # type: ignore[index]
        page.get_by_text(f"更换 {_name(lead)}（组长）").click()  # a details element: no script
        form = page.locator("details[open] form")
        form.get_by_label("回避").check()
        form.get_by_label("理由（记入审计日志）").fill("   ")  # filled, but only spaces
        page.screenshot(path=str(tmp_path / "form.png"), full_page=True)
        form.get_by_role("button", name="更换组员").click()
        refused = page.locator("#replace-refused").inner_text()
        kept = page.locator("details[open] input[value=conflict]").is_checked()
        page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
        refused_width = page.evaluate("document.documentElement.scrollWidth")
        form = page.locator("details[open] form")
        form.get_by_label("理由（记入审计日志）").fill("与该企业负责人系亲属关系")
        form.get_by_role("button", name="更换组员").click()
        replaced = page.locator("#replaced").inner_text()
        changes = page.locator("#changes").inner_text()
        page.screenshot(path=str(tmp_path / "replaced.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        page.goto(f"{base}/w/c/rounds/{ROUND}")
        page.locator("#replacements a").click()
        reached = page.url
        page.goto(f"{base}/w/c/rounds/{ROUND}")
        page.screenshot(path=str(tmp_path / "round.png"), full_page=True)
        round_width = page.evaluate("document.documentElement.scrollWidth")
    assert "理由：必填" in refused and kept
    new = teams(engine)[code][0]
    assert new not in (lead, second)
    assert f"由 {_name(new)} 接替" in replaced
    assert "与该企业负责人系亲属关系" in changes and "回避" in changes
    assert reached == f"{base}/w/c/rounds/{ROUND}/e/{code}#changes"
    assert max(refused_width, width, round_width) <= PHONE["width"]
    assert tap >= 44, tap  # each 更换 is a finger's tap, as the page's buttons are


def test_a_member_withdrawn_as_unable_to_attend_is_named_on_their_other_teams(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """The form withdraws from one team; the page then names, and links, the round's other
    enterprises whose teams still hold the member (不能到场 and 调离 hold for each of them)."""
    base, drawn, ssc = coordinator_live
    held: dict[str, list[str]] = {}
    for code, team in sorted(drawn.items()):
        for inspector in team:
            held.setdefault(inspector, []).append(code)
    inspector, codes = next((i, c) for i, c in sorted(held.items()) if len(c) > 1)
    page = f"/w/c/rounds/{ROUND}/e/{codes[0]}"
    with coordinator_client(base, ssc) as http:
        before = http.get(page)
        sent = {"csrf": csrf_of(before.text), "inspector_id": inspector,
                "cause": "unavailable", "note": "住院治疗"}  # fmt: skip
        done = http.post(f"{page}/replace", data=sent)
        assert done.status_code == 303, done.text
        after = http.get(done.headers["location"])
    banner = _section(after.text, "still-on")
    assert f"{_name(inspector)}（不能到场）仍在本轮 {len(codes) - 1} 家企业的检查组中" in banner
    for code in codes[1:]:
        assert f'href="/w/c/rounds/{ROUND}/e/{code}"' in banner
    assert f'href="{page}"' not in banner
