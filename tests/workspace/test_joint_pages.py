"""The coordinator's 联合抽查 pages (``/w/c/joint``, ``/w/c/joint/{key}``) over real HTTP, on
three bureaus served on loopback (tests.joint's ``trio``; SQLite and PostgreSQL): a joint
round followed from the commitments to the draw, what this bureau does next at each step and
the command for it, the teams once drawn, a failure's reason, a withdrawal made from the page
(CSRF, a required note, refusals in Chinese naming the field) and its note; a partner's name
with markup and a right-to-left override shown inert; every page at 390 px in Chromium with
JavaScript off; sign-in required. Before these pages every address here was a 404."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import httpx
from sqlmodel import Session, select

from api import tokens
from joint import service
from joint.models import JointRound
from rounds.models import AuditEvent
from tests.browser import headless, phone
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.joint.world import joint_yaml
from tests.workspace.helpers import outbox_link, sign_in, sign_in_page
from tests.workspace.test_every_page_fits import MEASURE, _fits

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
LATE = dt.timedelta(hours=1)  # past both deadlines of joint_yaml
HOSTILE = '<b id="x">沪</b>\u202e局'  # a partner's name as its directory entry holds it


def _hostile_partner(trio: Trio) -> None:
    """Fujian's directory names Shanghai with markup and a right-to-left override."""
    path = trio.b[FJ].home / "partners.toml"
    text = path.read_text(encoding="utf-8")
    escaped = json.dumps(HOSTILE)  # a TOML basic string takes JSON's escapes
    path.write_text(text.replace(f'name = "局{SH}"', f"name = {escaped}"), encoding="utf-8")


def _coordinator(trio: Trio, code: str, http: httpx.Client) -> None:
    ssc = tokens.create_coordinator(trio.b[code].engine, f"协调员{code}", code)
    r = sign_in(http, f"/w/c/open?token={ssc}")
    assert r.status_code == 303, r.text


def _next(page: httpx.Response) -> str:
    """The page's 本局下一步 banner, as text."""
    assert page.status_code == 200, page.text
    banner = page.text.split('id="next"', 1)[1].split("</section>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", "", banner))


def _party(page: httpx.Response, code: str) -> str:
    """The participants table's row of ``code`` on a round's page, as text."""
    table = page.text.split('class="parties"', 1)[1].split("</table>", 1)[0]
    row = next(tr for tr in table.split("<tr>")[1:] if f"（{code}）" in tr)
    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", row)))


def _inert(page: httpx.Response) -> None:
    """The hostile name is on the page as text: escaped, its override a U+FFFD."""
    assert '<b id="x">' not in page.text and "\u202e" not in page.text
    assert "&lt;b id=&#34;x&#34;&gt;沪&lt;/b&gt;\ufffd局" in page.text


def test_a_joint_round_followed_from_the_commitments_to_the_draw(trio: Trio) -> None:
    joint, text = "jt-pages", joint_yaml("jt-pages")
    _hostile_partner(trio)
    with httpx.Client(base_url=trio.b[FJ].base_url) as http:
        _coordinator(trio, FJ, http)
        empty = http.get("/w/c/joint")
        assert empty.status_code == 200 and "本局尚未参加联合抽查" in empty.text
        assert http.get(f"/w/c/joint/{joint}").status_code == 404
        for code in (FJ, SH):
            service.commit(trio.b[code].engine, trio.me[code], text)
        listing = http.get("/w/c/joint")
        assert listing.status_code == 200 and f'href="/w/c/joint/{joint}"' in listing.text
        card = html.unescape(re.sub(r"<[^>]+>", "", listing.text.split(f'id="j-{joint}"')[1]))
        assert "牵头机关本局（350000）" in card and "已承诺，待揭示" in card
        assert f"等待承诺：局{ZJ}（{ZJ}）" in card
        assert re.search(r"承诺截止.*（剩余 (9|10) 分钟）", card), card
        assert re.search(r"揭示截止.*（剩余 (19|20) 分钟）", card), card
        _inert(listing)
        page = http.get(f"/w/c/joint/{joint}")
        said = _next(page)
        assert f"等待 局{ZJ}（{ZJ}） 的承诺" in said and f"shuangsui joint pull {joint}" in said
        assert "已收到" in _party(page, SH) and "未收到" in _party(page, ZJ)
        assert 'action="/w/c/joint/jt-pages/withdraw"' in page.text  # clean: it can be withdrawn

        service.commit(trio.b[ZJ].engine, trio.me[ZJ], text)
        said = _next(http.get(f"/w/c/joint/{joint}"))
        assert "所有机关的承诺均已收到" in said and f"shuangsui joint reveal {joint}" in said

        trio.reveal(FJ, joint)
        page = http.get(f"/w/c/joint/{joint}")
        said = _next(page)
        assert "本局已揭示" in said and f"shuangsui joint draw {joint}" in said
        assert "本局已揭示，待抽取" in page.text and "withdraw" not in page.text
        assert _party(page, FJ).endswith("已收到已收到") and _party(page, ZJ).endswith("未收到")

        for code in (SH, ZJ):
            trio.reveal(code, joint)
        assert "请抽取" in _next(http.get(f"/w/c/joint/{joint}"))
        row = service.draw(trio.b[FJ].engine, trio.me[FJ], joint)
        assert row.status == "drawn"
        page = http.get(f"/w/c/joint/{joint}")
        said = _next(page)
        assert "已抽取" in said and f"shuangsui joint publish {joint}" in said  # we lead
        assert "已抽取" in page.text and "两份不同的承诺" not in page.text
        teams = page.text.split('id="teams"', 1)[1].split("</section>", 1)[0]
        assert f"shuangsui joint bundle {joint} --out 目录" in teams
        from joint.overview import joint_round

        drawn = joint_round(trio.b[FJ].engine, FJ, joint)
        with Session(trio.b[FJ].engine) as s:
            from registry.models import Inspector

            names = dict(s.exec(select(Inspector.inspector_id, Inspector.name)).all())
        assert teams.count("<li ") == len(drawn.teams) > 0
        for t in drawn.teams:
            item = teams.split(f'id="e-{t.credit_code}"', 1)[1].split("</li>", 1)[0]
            ours = next(m for m in t.members if m.bureau == FJ)
            assert f"{names[ours.inspector_id]}（{ours.inspector_id}）" in item  # named
            theirs = next(m for m in t.members if m.bureau == ZJ)
            assert f"局{ZJ}（{ZJ}） {theirs.inspector_id}" in item
        _inert(page)
        _inert(http.get("/w/c/joint"))
    # a participant that is not the lead is told to send its findings to the lead
    with httpx.Client(base_url=trio.b[SH].base_url) as http:
        _coordinator(trio, SH, http)
        assert service.draw(trio.b[SH].engine, trio.me[SH], joint).status == "drawn"
        said = _next(http.get(f"/w/c/joint/{joint}"))
        assert f"shuangsui joint finding {joint} 统一社会信用代码 结论 检查日期" in said


def test_a_round_withdrawn_from_the_page_and_one_failed_by_the_rule(
    trio: Trio, tmp_path: Path
) -> None:
    _hostile_partner(trio)
    trio.commit("jt-out")
    trio.commit("jt-fail")
    trio.commit("jt-open")
    base = trio.b[FJ].base_url
    with httpx.Client(base_url=base, headers={"Origin": base}) as http:
        _coordinator(trio, FJ, http)
        page = http.get("/w/c/joint/jt-out")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf and 'for="note">撤回理由' in page.text
        form = "/w/c/joint/jt-out/withdraw"
        stale = http.post(form, data={"note": "计划有误"})
        assert stale.status_code == 403  # no CSRF token; 继续 opens the round's page again
        assert f'href="{form}">继续' in stale.text
        back = http.get(form)
        assert back.status_code == 303 and back.headers["location"] == "/w/c/joint/jt-out#withdraw"
        refused = {
            "": "撤回理由：必填",
            "   ": "撤回理由：必填",
            "计划\u202e有误": "撤回理由：含有不可见或控制字符 U+202E",
            "长" * 501: "撤回理由：共 501 字，最多 500 字",
        }
        for note, words in refused.items():
            r = http.post(form, data={"csrf": csrf[1], "note": note})
            assert r.status_code == 422 and words in html.unescape(r.text), (note, r.text[-800:])
        twice = http.post(form, data={"csrf": csrf[1], "note": ["甲", "乙"]})
        assert twice.status_code == 422 and "撤回理由：" in twice.text
        assert http.post("/w/c/joint/jt-none/withdraw", data={"csrf": csrf[1], "note": "x"}
                         ).status_code == 404  # fmt: skip
        with Session(trio.b[FJ].engine) as s:
            assert s.get(JointRound, "jt-out").status == "committed"  # type: ignore[union-attr]
        done = http.post(form, data={"csrf": csrf[1], "note": "合作局有误\n请忽略"})
        assert (
            done.status_code == 303
            and done.headers["location"] == "/w/c/joint/jt-out?done=withdrawn"
        )
        page = http.get(done.headers["location"])
        assert "已撤回：本局随机数已删除" in page.text and "本局已撤回" in page.text
        facts = page.text.split('id="withdrawal"', 1)[1].split("</section>", 1)[0]
        assert "合作局有误 请忽略" in facts and f"协调员{FJ}" in facts  # one line
        assert 'withdraw"' not in page.text and 'name="note"' not in page.text
        assert "请自行通知它们" in _next(page)
        with Session(trio.b[FJ].engine) as s:
            event = s.exec(
                select(AuditEvent).where(AuditEvent.event == "JointRoundWithdrawn")
            ).one()
        assert json.loads(event.payload)["recorded_by"] == f"协调员{FJ}"
        again = http.post(form, data={"csrf": csrf[1], "note": "再撤一次"})
        assert again.status_code == 409 and "不能撤回" in again.text

        # Shanghai withholds: the deadline passes and the rule fails the round, naming it
        for code in (FJ, ZJ):
            trio.reveal(code, "jt-fail")
        late = dt.datetime.now(dt.UTC) + LATE
        failed = service.draw(trio.b[FJ].engine, trio.me[FJ], "jt-fail", now=late)
        assert failed.status == "failed"
        page = http.get("/w/c/joint/jt-fail")
        failure = page.text.split('id="failure"', 1)[1].split("</section>", 1)[0]
        assert "未在揭示截止前揭示随机数" in failure and "withheld-fails" in failure
        assert "replaces: jt-fail" in _next(page) and "shuangsui joint commit" in _next(page)
        _inert(page)

        listing = http.get("/w/c/joint")
        for key, status in (("jt-out", "本局已撤回"), ("jt-fail", "失败"),
                            ("jt-open", "已承诺，待揭示")):  # fmt: skip
            card = listing.text.split(f'id="j-{key}"', 1)[1].split("</section>", 1)[0]
            assert f"<strong>{status}</strong>" in card, (key, card)
        cards = re.findall(r'id="j-(jt-[a-z]+)"', listing.text)
        assert cards == ["jt-open", "jt-fail", "jt-out"]  # newest first
        # past a deadline with a reveal missing, before any draw records it: the rule has
        # failed it, and the next step is the draw that records it
        from joint.overview import joint_round
        from workspace.joint_pages import next_step

        ruled = joint_round(trio.b[FJ].engine, FJ, "jt-open", now=late)
        said, command = next_step(ruled, FJ, {}, "Asia/Shanghai")
        assert "已按规则失败" in said and command == "shuangsui joint draw jt-open"
        assert http.get("/w/c/joint/jt-none").status_code == 404
        hostile = http.get("/w/c/joint/%3Cscript%3E")
        assert hostile.status_code == 404 and "<script>" not in hostile.text
        ssc = tokens.create_coordinator(trio.b[FJ].engine, "手机协调员", FJ)

    # every page at 390 px in Chromium with JavaScript off: nothing wider than the screen
    with headless() as browser:
        tab = phone(browser).new_page()
        sign_in_page(tab, f"{base}/w/c/open?token={ssc}")
        seen = {}
        for path in ("/w/c/joint", "/w/c/joint/jt-out", "/w/c/joint/jt-fail",
                     "/w/c/joint/jt-open"):  # fmt: skip
            answer = tab.goto(base + path)
            assert answer is not None and answer.status == 200, path
            tab.screenshot(path=str(tmp_path / f"{path.rsplit('/', 1)[1]}.png"), full_page=True)
            seen[path] = tab.evaluate(MEASURE)
        assert tab.locator("#note").is_visible()  # the open round's form, labelled
    _fits(seen)


def test_a_drawn_round_fits_a_phone(trio: Trio, tmp_path: Path) -> None:
    trio.commit("jt-phone")
    for code in (FJ, SH, ZJ):
        trio.reveal(code, "jt-phone")
    assert service.draw(trio.b[FJ].engine, trio.me[FJ], "jt-phone").status == "drawn"
    ssc = tokens.create_coordinator(trio.b[FJ].engine, "手机协调员", FJ)
    base = trio.b[FJ].base_url
    with headless() as browser:
        tab = phone(browser).new_page()
        sign_in_page(tab, f"{base}/w/c/open?token={ssc}")
        answer = tab.goto(f"{base}/w/c/joint/jt-phone")
        assert answer is not None and answer.status == 200
        tab.screenshot(path=str(tmp_path / "drawn.png"), full_page=True)
        seen = {"/w/c/joint/jt-phone": tab.evaluate(MEASURE)}
        assert tab.locator("#teams li").count() > 0
    _fits(seen)


def test_the_pages_need_a_coordinator_session(coordinator_live: tuple[str, dict, str]) -> None:
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        for path in ("/w/c/joint", "/w/c/joint/jt-x"):
            assert http.get(path).status_code == 401, path  # no session
        assert sign_in(http, outbox_link(code, team[0], base)).status_code == 303
        inspector = http.cookies.get("ssw_a")
    for path in ("/w/c/joint", "/w/c/joint/jt-x"):
        r = httpx.get(base + path, headers={"Cookie": f"ssw_c={inspector}"})
        assert r.status_code == 401, path  # an inspector's session is not a coordinator's
        r = httpx.get(base + path, headers={"Cookie": f"ssw_a={inspector}"})
        assert r.status_code == 401, path
    refused = httpx.post(f"{base}/w/c/joint/jt-x/withdraw", data={"note": "x"},
                         headers={"Origin": base})  # fmt: skip
    assert refused.status_code == 401
    with httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        page = http.get("/w/c/joint")
        assert page.status_code == 200 and "本局尚未参加联合抽查" in page.text
        assert 'href="/w/c/joint"' in http.get("/w/c/").text  # linked from the month
        assert 'href="/w/c/joint"' in http.get("/w/c/partners").text  # and the partners page


def test_time_left_in_a_coordinators_words() -> None:
    from workspace.joint_pages import time_left

    now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    day, hour, minute = dt.timedelta(days=1), dt.timedelta(hours=1), dt.timedelta(minutes=1)
    assert time_left(now + 3 * day + 5 * hour, now) == "剩余 3 天"
    assert time_left(now + day, now) == "剩余 1 天"
    assert time_left(now + 5 * hour + 30 * minute, now) == "剩余 5 小时"
    assert time_left(now + 90 * dt.timedelta(seconds=1), now) == "剩余 2 分钟"
    assert time_left(now + dt.timedelta(seconds=1), now) == "剩余 1 分钟"
    assert time_left(now, now) == "已过期"
    assert time_left(now - minute, now) == "已过期"
