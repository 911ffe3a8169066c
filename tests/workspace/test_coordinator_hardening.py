"""The coordinator's pages against odd input, over real HTTP: digits that are not ASCII, rates
without a percent sign, a broken plan file among good ones, forms posted for a round that does
not exist, a malformed month; and, in a real Chromium at 390 px, ``pre`` boxes and the
preflight's tables that stay inside the page."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from api import tokens
from api.app import create_app
from rounds.models import AuditEvent, Round
from shuangsui.config import get_settings
from tests.browser import PHONE, headless, phone
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, record_equivocation, sign_in, sign_in_page
from workspace.adhoc import LABELS

BROKEN = "id: ccc-2026-12-broken\nstrata: [unclosed\n"  # not YAML


@dataclass
class Live:
    base: str
    ssc: str
    plans: Path
    started: list[dict[str, Any]]


@pytest.fixture
def live(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """A served app with one good plan in its plans folder; the runner only records."""
    plans = plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"mode": "test", "round_key": params.get("round_id", "x"), "state": "running"}

    with serve(create_app(engine=engine, adhoc_runner=runner)) as base:
        yield Live(base, ssc, plans, started)


@contextmanager
def _coordinator(live: Live) -> Iterator[httpx.Client]:
    """A client signed in as the coordinator."""
    with httpx.Client(base_url=live.base) as http:
        assert sign_in(http, f"/w/c/open?token={live.ssc}").status_code == 303
        yield http


def _events(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(AuditEvent)).one()


def test_odd_cap_and_rates_re_render_the_form_naming_the_field(
    live: Live, engine: sa.Engine
) -> None:
    with _coordinator(live) as http:
        form = http.get("/w/c/adhoc")
        data = {"csrf": csrf_of(form.text), "plan": "ccc-2026-12", "reason": "投诉举报",
                "action": "start"}  # fmt: skip
        odd = [("total_cap", "²"), ("total_cap", "９"), ("total_cap", "9" * 5000),
               ("rates", "D=50"), ("rates", "A=150%"), ("rates", "A=1.2.3%")]  # fmt: skip
        for field, value in odd:
            r = http.post("/w/c/adhoc", data={**data, field: value})
            assert r.status_code == 422, (field, value, r.text[:300])
            assert 'id="errors"' in r.text and f"{LABELS[field]}：" in r.text, (field, value)
            assert f"{field}：" not in r.text  # named as the form labels it
            assert 'name="csrf"' in r.text  # the form again, to correct
    assert live.started == []
    with Session(engine) as s:
        assert s.exec(select(Round)).first() is None


def test_ceremony_digits_are_ascii_digits_only(live: Live, engine: sa.Engine) -> None:
    from rounds import service
    from rounds.models import RoundKind

    key = "ccc-2026-12-adhoc-1"
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=key, requested_by="李协调", reason="投诉举报")  # fmt: skip
    with _coordinator(live) as http:
        form = {"csrf": csrf_of(http.get(f"/w/c/rounds/{key}").text), "witnesses": "王五"}
        for digits in ("²", "２７１８", "27 18"):
            r = http.post(f"/w/c/rounds/{key}/ceremony", data={**form, "witness_digits": digits})
            assert r.status_code == 422 and f"{LABELS['witness_digits']}：" in r.text, digits
    assert live.started == []


def test_an_override_rate_that_is_no_percentage_is_a_plan_error() -> None:
    from rounds.plans import apply_overrides, load_plan_text
    from shuangsui.errors import PlanError

    plan, _ = load_plan_text(plan_yaml())
    with pytest.raises(PlanError, match=r"overrides\.rates\.A"):
        apply_overrides(plan, {"rates": {"A": "50"}})


def test_a_broken_plan_file_is_named_and_skipped_and_cannot_be_chosen(
    live: Live, engine: sa.Engine
) -> None:
    (live.plans / "zz-broken.yaml").write_text(BROKEN, encoding="utf-8")
    (live.plans / "aa-wrong.yaml").write_text(plan_yaml(plan_id="ccc-2026-12-b", rates="{A: 10}"),
                                               encoding="utf-8")  # fmt: skip
    with _coordinator(live) as http:
        pages = [http.get("/w/c/?period=2026-12"), http.get("/w/c/adhoc")]
        data = {"csrf": csrf_of(pages[1].text), "reason": "投诉举报", "action": "preview"}
        good = http.post("/w/c/adhoc", data={**data, "plan": "ccc-2026-12"})
        chosen = [
            http.post("/w/c/adhoc", data={**data, "plan": plan, "action": "start"})
            for plan in ("ccc-2026-12-broken", "zz-broken.yaml", "ccc-2026-12-b")
        ]
    for page in [*pages, good]:
        assert page.status_code == 200, page.text[:300]
        assert "ccc-2026-12" in page.text
        assert "计划文件 zz-broken.yaml 无法读取，已跳过" in page.text
        assert "计划文件 aa-wrong.yaml 无法读取，已跳过" in page.text
        assert "strata.rates" in page.text  # the reason names the field
        assert str(live.plans) not in page.text and "line 2" not in page.text  # no parser text
    assert 'value="ccc-2026-12-b"' not in pages[1].text and "预检（尚未提交）" in good.text
    for r in chosen:
        assert r.status_code == 422 and 'id="errors"' in r.text and "抽查计划：" in r.text
        assert str(live.plans) not in r.text
    assert live.started == []


def test_forms_for_a_round_that_does_not_exist_are_404_and_write_nothing(
    live: Live, engine: sa.Engine
) -> None:
    with _coordinator(live) as http:
        csrf = csrf_of(http.get("/w/c/adhoc").text)
        before = _events(engine)
        form = {"csrf": csrf, "witnesses": "王五", "witness_digits": "271828"}
        for action in ("retry-dead", "ceremony"):
            r = http.post(f"/w/c/rounds/no-such-round/{action}", data=form)
            assert r.status_code == 404, (action, r.status_code)
            assert "没有轮次 no-such-round" in r.text
            assert http.post(f"/w/c/rounds/no-such-round/{action}", data={}).status_code == 403
    assert _events(engine) == before and live.started == []


def test_a_malformed_month_is_refused_naming_the_parameter(live: Live) -> None:
    with _coordinator(live) as http:
        for period in ("garbage", "2026-13", "2026-1", "２０２６-１２", "2026-12x"):
            r = http.get("/w/c/", params={"period": period})
            assert r.status_code == 400, period
            assert "period" in r.text and "YYYY-MM" in r.text and "本月抽查" not in r.text
        ok = http.get("/w/c/", params={"period": "2026-12"})
        assert ok.status_code == 200 and "2026-12 本月抽查" in ok.text
        assert http.get("/w/c/").status_code == 200  # no period: this month
        bare = http.get("/w/c", headers={"Host": "evil.example"}, follow_redirects=False)
        assert (bare.status_code, bare.headers["location"]) == (308, "/w/c/")  # a path of ours


# Every pre and every .scroll box (the ad hoc preflight's tables) either fits or scrolls (or
# clips) inside itself; and the page is no wider than the phone.
MEASURE = """() => ({
  width: document.documentElement.scrollWidth,
  boxes: [...document.querySelectorAll('pre, .scroll')].map(p => ({
    overflows: p.scrollWidth > p.clientWidth,
    contained: ['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX),
  })),
})"""
NARROW = 300  # px: narrower than any phone the workspace is made for


@pytest.mark.slow
def test_pre_boxes_and_preflight_tables_stay_inside_a_phone_screen(
    live: Live, engine: sa.Engine, tmp_path: Path
) -> None:
    record_equivocation(engine)
    with headless() as browser:
        page = phone(browser, javascript=True).new_page()
        sign_in_page(page, f"{live.base}/w/c/open?token={live.ssc}")
        page.goto(f"{live.base}/w/c/adhoc")
        page.get_by_label("抽查计划").select_option("ccc-2026-12")
        page.get_by_label("原因（将记入审计日志）").fill("投诉举报")
        page.get_by_role("button", name="预检").click()
        page.wait_for_selector("#preview table#classes")
        page.screenshot(path=str(tmp_path / "adhoc-preview.png"), full_page=True)
        preview = page.evaluate(MEASURE)
        page.set_viewport_size({**PHONE, "width": NARROW})  # a small phone: tables scroll
        page.screenshot(path=str(tmp_path / "adhoc-preview-narrow.png"), full_page=True)
        narrow = page.evaluate(MEASURE)
        page.set_viewport_size(PHONE)
        page.goto(f"{live.base}/w/c/partners")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        page.screenshot(path=str(tmp_path / "partners.png"), full_page=True)
        partners = page.evaluate(MEASURE)
    assert len(preview["boxes"]) == 2  # the preflight's two tables, in their .scroll boxes
    assert any(p["overflows"] for p in narrow["boxes"])  # wider than the small phone
    assert narrow["width"] <= NARROW, narrow
    assert len(partners["boxes"]) >= 3  # two checkpoints and the proof's JSON
    for shown in (preview, narrow, partners):
        assert shown["width"] <= PHONE["width"], shown
        assert all(p["contained"] or not p["overflows"] for p in shown["boxes"]), shown


def _too_large(base: str, path: str, length: int = 40_000_000) -> httpx.Response:
    """A POST declaring ``length`` bytes (40 MB) to ``path`` (refused before its body is read:
    none is sent)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", path, headers={"Content-Length": str(length)})
        answer = conn.getresponse()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())
    finally:
        conn.close()


def test_the_frameworks_refusals_of_workspace_paths_are_pages(live: Live) -> None:
    """No such page, a method a page does not take, a body too large: on a workspace path a
    page in Chinese (with the status), on an API path still a problem document."""
    with _coordinator(live) as browser:
        cases = [
            (browser.get("/w/nope"), 404, "没有这个页面"),
            (browser.get("/w/c/rounds/ccc-2026-12/retry-dead"), 405, "不接受这种请求方式"),
            (_too_large(live.base, "/w/c/adhoc"), 413, "提交的内容过大"),
            # a form without files is not said to hold photos; an import, a file
            (_too_large(live.base, "/w/c/rounds/ccc-2026-12/e/X/redate"), 413, "未作任何更改"),
            (_too_large(live.base, "/w/c/rounds/ccc-2026-12/import"), 413, "上传的文件过大"),
            # the findings form is read up to 4 times its photos' 25 MB (workspace.photo_form)
            (_too_large(live.base, "/w/a/ccc-2026-12/X", 101 * 2**20), 413, "少选几张照片"),
        ]
        for answer, status, said in cases:
            assert answer.status_code == status, (status, answer.text[:200])
            assert answer.headers["content-type"].startswith("text/html"), answer.text[:200]
            assert said in answer.text and 'lang="zh-CN"' in answer.text
            assert ("照片" in answer.text) == (said == "少选几张照片"), answer.text
        assert _too_large(live.base, "/findings/x/y").headers["content-type"] == (
            "application/problem+json"
        )
        api = browser.get("/nowhere")
        assert api.status_code == 404
        assert api.headers["content-type"] == "application/problem+json"


def test_the_start_of_an_adhoc_round_sent_twice_starts_it_once(
    live: Live, engine: sa.Engine
) -> None:
    """A double click on 提交并开始 (the same form twice, here at once) starts one round and
    audits it once; the form changed and sent again is another round."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.workspace.test_adhoc import _start_key

    with _coordinator(live) as browser:
        data = {"csrf": csrf_of(browser.get("/w/c/adhoc").text), "plan": "ccc-2026-12",
                "reason": "投诉举报", "action": "preview"}  # fmt: skip
        preview = browser.post("/w/c/adhoc", data=data)
        form = {**data, "action": "start", "start_key": _start_key(preview.text)}
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: browser.post("/w/c/adhoc", data=form), range(2)))
        again = browser.post("/w/c/adhoc", data=form)
        assert [a.status_code for a in [*answers, again]] == [303, 303, 303]
        assert len({a.headers["location"] for a in [*answers, again]}) == 1
        other = browser.post("/w/c/adhoc", data={**form, "reason": "另一条投诉"})
        assert other.status_code == 303
    assert len(live.started) == 2, "once for the form, once for the form changed"
    assert live.started[0]["round_id"] != live.started[1]["round_id"]
    with Session(engine) as s:
        events = s.exec(select(AuditEvent.event).where(AuditEvent.event == "AdhocRequested")).all()
    assert len(events) == 2


def test_a_round_the_preflight_would_hold_cannot_be_started(live: Live) -> None:
    """A preview that says 建议暂缓 (here: a division with no enterprise, an empty population)
    offers no start, and a start sent all the same is refused with the reasons shown."""
    from tests.workspace.test_adhoc import _start_key

    with _coordinator(live) as browser:
        data = {"csrf": csrf_of(browser.get("/w/c/adhoc").text), "plan": "ccc-2026-12",
                "reason": "投诉举报", "divisions": "350900", "action": "preview"}  # fmt: skip
        preview = browser.post("/w/c/adhoc", data=data)
        assert preview.status_code == 200 and "建议暂缓" in preview.text
        assert 'value="start"' not in preview.text, "no start button"
        start = {**data, "action": "start", "start_key": _start_key(preview.text)}
        forced = browser.post("/w/c/adhoc", data=start)
        assert forced.status_code == 422 and "不能开始" in forced.text
    assert live.started == []
