"""The coordinator's leads pages over real HTTP: intake through the form (a refusal names each
field in Chinese and writes nothing), the list with its filters and counts, triage through the
forms (each step audited, a second decision refused), where a lead went, and the reporter of a
confidential lead on no page."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from findings.dates import today
from leads import service
from leads.models import Lead, LeadStatus
from leads.schemas import LeadIn
from rounds import audit
from rounds import service as rounds
from shuangsui.config import get_settings
from tests.browser import PHONE, headless, phone
from tests.findings.live import serve
from tests.leads.helpers import draw, final_finding, outside_code
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, delivered_round, open_assignment, sign_in, sign_in_page
from workspace import leadviews
from workspace.leadforms import said

REPORTER = "举报人王某某 13800000000"
ALLEGATION = "该企业销售的插座未加施CCC标志-9931"
ME = "李协调"


class Desk:
    """A served app, its coordinator token and what its ad hoc runner was asked to start."""

    def __init__(self, base: str, token: str, started: list[dict[str, Any]]):
        self.base, self.token, self.started = base, token, started

    @contextmanager
    def signed_in(self) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.base) as http:
            assert sign_in(http, f"/w/c/open?token={self.token}").status_code == 303
            yield http


@contextmanager
def _desk(engine: sa.Engine) -> Iterator[Desk]:
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"mode": "test", "round_key": "adhoc-ccc-lead", "state": "scheduled"}

    token = tokens.create_coordinator(engine, ME, get_settings().bureau_code)
    with serve(create_app(engine=engine, adhoc_runner=runner)) as base:
        yield Desk(base, token, started)


@pytest.fixture
def desk(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """A registry (with the check item CCC-01), a plans folder, a coordinator and the app."""
    seed_registry(engine, enterprises=8)
    plans_folder(tmp_path, monkeypatch)
    with _desk(engine) as served:
        yield served


def _registered(engine: sa.Engine) -> str:
    """A credit code of the registry, and its enterprise's name."""
    from registry.models import Enterprise

    with Session(engine) as s:
        first = s.exec(select(Enterprise).order_by(Enterprise.credit_code)).first()
    assert first is not None
    return first.credit_code


def _name(engine: sa.Engine, code: str) -> str:
    from registry.models import Enterprise

    with Session(engine) as s:
        row = s.get(Enterprise, code)
    assert row is not None
    return row.name


def _lead(engine: sa.Engine, code: str, days_ago: int = 3, **kw: Any) -> int:
    data = {"source": "complaint", "credit_code": code, "category": "虚假认证",
            "received_on": today() - dt.timedelta(days=days_ago), "reporter": REPORTER,
            "allegation": ALLEGATION} | kw  # fmt: skip
    lead = service.receive(engine, LeadIn.model_validate(data), by="林科长")
    assert lead.id is not None
    return lead.id


def _leads(engine: sa.Engine) -> list[Lead]:
    with Session(engine) as s:
        return list(s.exec(select(Lead)).all())


def _events(engine: sa.Engine, *names: str) -> list[dict[str, Any]]:
    with Session(engine) as s:
        chain = audit.load_chain(s)
        assert audit.verify_chain(chain) == len(chain)
    return [json.loads(e.payload) | {"event": e.event} for e in chain if e.event in names]


def _form(**kw: str) -> dict[str, str]:
    return {"source": "complaint", "category": "认证标志使用不规范",
            "received_on": (today() - dt.timedelta(days=2)).isoformat(), "confidential": "1",
            "reporter": REPORTER, "allegation": ALLEGATION} | kw  # fmt: skip


def _errors(html: str) -> list[str]:
    section = html.split('id="errors"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<li>(.*?)</li>", section)


def _offered(page: httpx.Response) -> list[str]:
    """The leads the merge form offers, in its order."""
    choices = page.text.split('id="into"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="(\d+)"', choices)


def test_intake_through_the_form_records_the_lead_once(desk: Desk, engine: sa.Engine) -> None:
    code = _registered(engine)
    with desk.signed_in() as http:
        month = http.get("/w/c/")
        blank = http.get("/w/c/leads/new")
        key = re.search(r'name="intake_key" value="([0-9a-f]{32})"', blank.text)
        assert key is not None
        form = _form(credit_code=code.lower(), csrf=csrf_of(blank.text), intake_key=key[1])
        made = http.post("/w/c/leads/new", data=form)
        again = http.post("/w/c/leads/new", data=form)  # a double click: the same lead
        page = http.get(made.headers["location"])
    assert 'href="/w/c/leads"' in month.text
    assert "不填写时为收到日期后 60 天" in blank.text
    assert re.search(r'name="confidential"[^>]* checked', blank.text)  # checked by default
    assert made.status_code == 303 and again.headers["location"] == made.headers["location"]
    (lead,) = _leads(engine)
    assert made.headers["location"] == f"/w/c/leads/{lead.id}?done=received"
    assert (lead.credit_code, lead.created_by, lead.confidential) == (code, ME, True)
    assert lead.deadline == lead.received_on + dt.timedelta(days=60)
    assert page.status_code == 200 and "线索已登记" in page.text
    assert _name(engine, code) in page.text and ALLEGATION in page.text  # internal, shown here
    assert REPORTER not in page.text and '<dd id="reporter">（保密）</dd>' in page.text
    (received,) = _events(engine, "LeadReceived")
    assert (received["lead_id"], received["by"]) == (lead.id, ME)


@pytest.mark.parametrize(
    ("fields", "said_"),
    [
        ({"credit_code": "91350100MA2Y000001"}, "统一社会信用代码：校验码错误"),
        ({"credit_code": "350100400000001"}, "统一社会信用代码：应为 18 位；这是 15 位的旧"),
        ({"source": ""}, "来源：必填"),
        ({"source": "weibo"}, "来源：请从列表中选择"),
        ({"category": ""}, "线索类别：必填"),
        ({"category": "虚假\u200b认证"}, "线索类别：含有不可见字符（U+200B"),
        ({"received_on": ""}, "收到日期：必填"),
        ({"received_on": "2026-13-40"}, "收到日期：应为日期"),
        ({"received_on": "2099-01-01"}, "收到日期：2099-01-01 晚于今天"),
        ({"received_on": "2026-11-02", "deadline": "2026-11-01"},
         "办结期限：2026-11-01 早于收到日期 2026-11-02"),
    ],
)  # fmt: skip
def test_a_bad_field_is_named_in_chinese_and_nothing_is_written(
    desk: Desk, engine: sa.Engine, fields: dict[str, str], said_: str
) -> None:
    code = _registered(engine)
    with desk.signed_in() as http:
        blank = http.get("/w/c/leads/new")
        form = _form(credit_code=code, csrf=csrf_of(blank.text)) | fields
        refused = http.post("/w/c/leads/new", data=form)
    assert refused.status_code == 422
    errors = _errors(refused.text)
    assert any(e.startswith(said_) for e in errors), errors
    assert not any(re.search(r"[A-Za-z]{3}", e.replace("GB/T", "")) for e in errors), errors
    assert f'value="{form["credit_code"]}"' in refused.text  # the form filled in again
    assert ALLEGATION in refused.text and 'name="csrf"' in refused.text
    assert _leads(engine) == [] and _events(engine, "LeadReceived") == []


def test_a_refusal_no_check_knows_still_names_the_field_in_chinese() -> None:
    assert said("reporter", "something new went wrong") == "举报人：填写有误，请核对后重新填写"
    assert said("into", "lead 9 does not exist") == "合并到：没有线索 9"


def test_the_list_filters_by_status_with_counts_open_first(desk: Desk, engine: sa.Engine) -> None:
    code, elsewhere = _registered(engine), outside_code()
    late = _lead(engine, code, days_ago=90)  # open past its default deadline (60 days)
    accepted, rejected, merged = (_lead(engine, code, days_ago=d) for d in (30, 20, 10))
    new = _lead(engine, elsewhere, days_ago=1, source="risk_monitoring", confidential=False)
    service.accept(engine, accepted, check_item="CCC-01", by=ME)
    service.reject(engine, rejected, reason="不属于本局管辖", by=ME)
    service.merge(engine, merged, into=accepted, by=ME)
    with desk.signed_in() as http:
        everything = http.get("/w/c/leads")
        filters = ("received", "accepted", "targeted", "merged", "rejected", "overdue", "x")
        shown = {show: http.get(f"/w/c/leads?show={show}") for show in filters}
    listed = re.findall(r'<tr id="lead-(\d+)"', everything.text)
    # the open by deadline, then the decided, the latest received first (``leadviews.listing``)
    assert listed == [str(i) for i in (late, accepted, new, merged, rejected)]
    nav = everything.text.split('class="filters"', 1)[1].split("</nav>", 1)[0]
    for said_ in ("全部 5", "待处理 2", "已受理 1", "已列入定向检查 0", "已办结 0", "已合并 1",
                  "不予受理 1", "逾期 1"):  # fmt: skip
        assert said_ in nav, nav
    assert re.findall(r'<tr id="lead-(\d+)"', shown["received"].text) == [str(late), str(new)]
    assert re.findall(r'<tr id="lead-(\d+)"', shown["overdue"].text) == [str(late)]
    assert re.findall(r'<tr id="lead-(\d+)"', shown["rejected"].text) == [str(rejected)]
    assert "没有已列入定向检查的线索。" in shown["targeted"].text
    assert 'aria-current="page">逾期 1' in shown["overdue"].text
    assert len(re.findall(r'<tr id="lead-', shown["x"].text)) == 5  # an unknown filter: all
    row = everything.text.split(f'id="lead-{late}"', 1)[1].split("</tr>", 1)[0]
    assert f'href="/w/c/leads/{late}"' in row and "逾期" in row and "投诉举报" in row
    assert _name(engine, code) in row and code in row and "待处理" in row
    other = everything.text.split(f'id="lead-{new}"', 1)[1].split("</tr>", 1)[0]
    assert "（名录库中无此企业）" in other and elsewhere in other and "风险监测" in other
    assert REPORTER not in everything.text and ALLEGATION not in everything.text


def test_the_list_shows_the_open_leads_by_deadline_then_the_decided_a_page_at_a_time(
    desk: Desk, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oldest first, after five years the list began with the first year's decided leads, all
    on one page: now the open ones come first, the nearest deadline at the head, then the
    decided, the latest received first, a page at a time through plain links (``?page=``)."""
    monkeypatch.setattr(leadviews, "PAGE", 3)
    code, day = _registered(engine), today()
    decided = [_lead(engine, code, days_ago=d) for d in (50, 40, 30, 20, 10)]
    for lead in decided:
        service.reject(engine, lead, reason="不属于本局管辖", by=ME)
    far, near, late = (_lead(engine, code, days_ago=d, deadline=day + dt.timedelta(days=due))
                       for d, due in ((60, 40), (5, 3), (10, -2)))  # fmt: skip
    with desk.signed_in() as http:
        pages = {n: http.get(f"/w/c/leads?page={n}") for n in ("", "2", "3", "99", "x", "²")}
        rejected = http.get("/w/c/leads?show=rejected&page=2")
    listed = {n: re.findall(r'<tr id="lead-(\d+)"', page.text) for n, page in pages.items()}
    newest = [str(i) for i in reversed(decided)]
    assert listed[""] == [str(i) for i in (late, near, far)]
    assert listed["2"] == newest[:3]
    assert listed["3"] == listed["99"] == newest[3:]
    assert listed["x"] == listed["²"] == listed[""]
    assert "未办结 3 条" in pages[""].text and "不予受理 5 条" not in pages[""].text
    assert "不予受理 5 条" in pages["2"].text and "未办结" not in pages["2"].text
    assert "第 1 页，共 3 页" in pages[""].text and "第 3 页，共 3 页" in pages["99"].text
    assert 'href="/w/c/leads?page=2#leads"' in pages[""].text and "page=0" not in pages[""].text
    assert 'href="/w/c/leads?page=1#leads"' in pages["2"].text
    assert 'href="/w/c/leads?page=3#leads"' in pages["2"].text
    assert "page=4" not in pages["3"].text
    assert re.findall(r'<tr id="lead-(\d+)"', rejected.text) == newest[3:]
    assert 'href="/w/c/leads?show=rejected&amp;page=1#leads"' in rejected.text


def test_a_lead_offers_only_the_current_plans_for_its_urgent_round(
    desk: Desk, engine: sa.Engine, tmp_path: Path
) -> None:
    """The plans folder keeps every month's plans for years: a past month's plan is neither
    offered nor taken for an urgent lead's round (its round would be late the day it is
    drawn); this month's and a later month's are."""
    period = today().strftime("%Y-%m")
    files = {"old.yaml": plan_yaml(plan_id="ccc-2025-06", period="2025-06"),
             "now.yaml": plan_yaml(plan_id="ccc-now", period=period),
             "later.yaml": plan_yaml(plan_id="ccc-later", period="2099-01")}  # fmt: skip
    for name, text in files.items():
        (tmp_path / "plans" / name).write_text(text, encoding="utf-8")
    lead = _lead(engine, _registered(engine))
    with desk.signed_in() as http:
        page = http.get(f"/w/c/leads/{lead}")
        form = {"csrf": csrf_of(page.text), "check_item": "CCC-01", "urgent": "1",
                "adhoc_plan": "ccc-2025-06"}  # fmt: skip
        old = http.post(f"/w/c/leads/{lead}/accept", data=form)
    offered = re.findall(r'<option value="([a-z0-9-]+)"', page.text.split('id="adhoc_plan"')[1])
    assert "ccc-now" in offered and "ccc-later" in offered and "ccc-2025-06" not in offered
    assert old.status_code == 422 and "没有可用的计划 ccc-2025-06" in old.text
    assert _leads(engine)[0].status is LeadStatus.received and desk.started == []


def test_accept_merge_and_reject_through_the_forms_each_audited_and_final(
    desk: Desk, engine: sa.Engine
) -> None:
    code = _registered(engine)
    a, b, c = (_lead(engine, code) for _ in range(3))
    alone = _lead(engine, outside_code())
    with desk.signed_in() as http:
        page = http.get(f"/w/c/leads/{a}")
        csrf = csrf_of(page.text)
        lonely = http.get(f"/w/c/leads/{alone}")
        no_item = http.post(f"/w/c/leads/{a}/accept", data={"csrf": csrf, "check_item": "NOPE"})
        no_reason = http.post(f"/w/c/leads/{c}/reject", data={"csrf": csrf, "reason": " "})
        plan_only = http.post(f"/w/c/leads/{a}/accept", data={"csrf": csrf, "check_item":
                              "CCC-01", "adhoc_plan": "ccc-2026-12"})  # fmt: skip
        accepted = http.post(f"/w/c/leads/{a}/accept", data={"csrf": csrf, "check_item":
                             "CCC-01", "reason": "属实"})  # fmt: skip
        merge_form = http.get(f"/w/c/leads/{b}")
        merged = http.post(f"/w/c/leads/{b}/merge", data={"csrf": csrf, "into": str(a),
                           "reason": "同一事项"})  # fmt: skip
        rejected = http.post(f"/w/c/leads/{c}/reject", data={"csrf": csrf,
                             "reason": "不属于本局管辖"})  # fmt: skip
        again = http.post(f"/w/c/leads/{c}/accept", data={"csrf": csrf, "check_item": "CCC-01"})
        after = {i: http.get(f"/w/c/leads/{i}") for i in (a, b, c)}
        missing = http.get("/w/c/leads/999999")
        junk = http.get("/w/c/leads/系统升级请访问evil.example")
    assert (
        'name="check_item"' in page.text and "CCC-01 强制性产品认证获证产品一致性检查" in page.text
    )
    assert "无可合并的线索" in lonely.text
    assert no_item.status_code == 422 and "检查事项：NOPE 不在检查事项清单中" in no_item.text
    assert no_reason.status_code == 422 and "理由：必填" in no_reason.text
    assert plan_only.status_code == 422 and "紧急临时抽查计划：仅用于紧急线索" in plan_only.text
    assert accepted.status_code == 303 and accepted.headers["location"].endswith("?done=accepted")
    options = merge_form.text.split('id="into"', 1)[1].split("</select>", 1)[0]
    assert f'value="{a}"' in options and f'value="{c}"' in options and f'value="{b}"' not in options
    assert merged.status_code == 303 and rejected.status_code == 303
    assert again.status_code == 409
    assert f"线索 {c} 已经处理过：不予受理（{ME}）" in again.text
    assert "已受理" in after[a].text and f"受理：{ME}；理由：属实" in after[a].text
    assert f'href="/w/c/leads/{b}"' in after[a].text  # merged into it, linked
    assert f'href="/w/c/leads/{a}"' in after[b].text and "同一事项" in after[b].text
    assert f"不予受理：{ME}；理由：不属于本局管辖" in after[c].text
    assert f"合并：{ME}；理由：同一事项" in after[b].text
    assert not any('action="/w/c/leads/' in p.text for p in after.values())  # no forms left
    assert missing.status_code == 404 and "没有线索 999999" in missing.text
    assert junk.status_code == 404 and "线索编号应为数字" in junk.text
    assert "evil.example" not in junk.text
    decided = [(e["event"], e["lead_id"], e["by"], e["reason"]) for e in
               _events(engine, "LeadAccepted", "LeadMerged", "LeadRejected")]  # fmt: skip
    assert decided == [
        ("LeadAccepted", a, ME, "属实"),
        ("LeadMerged", b, ME, "同一事项"),
        ("LeadRejected", c, ME, "不属于本局管辖"),
    ]
    assert desk.started == []


def test_an_urgent_lead_starts_an_ad_hoc_round_of_its_plan(desk: Desk, engine: sa.Engine) -> None:
    lead = _lead(engine, _registered(engine), category="伪造认证证书")
    with desk.signed_in() as http:
        page = http.get(f"/w/c/leads/{lead}")
        assert "ccc-2026-12" in page.text.split('id="adhoc_plan"', 1)[1]
        form = {"csrf": csrf_of(page.text), "check_item": "CCC-01", "urgent": "1",
                "adhoc_plan": "ccc-2026-12"}  # fmt: skip
        sent = http.post(f"/w/c/leads/{lead}/accept", data=form)
        shown = http.get(sent.headers["location"])
    assert sent.status_code == 303, sent.text
    assert desk.started == [{"plan": "ccc-2026-12", "requested_by": ME,
                             "reason": f"线索 {lead} 紧急定向检查: 伪造认证证书"}]  # fmt: skip
    assert "紧急临时抽查已开始提交" in shown.text
    assert 'href="/w/c/rounds/adhoc-ccc-lead"' in shown.text
    (accepted,) = _events(engine, "LeadAccepted")
    assert accepted["urgent"] is True


def test_a_lead_page_shows_the_round_that_targets_it_and_the_finding_that_answers_it(
    desk: Desk, engine: sa.Engine
) -> None:
    code = _registered(engine)
    lead = _lead(engine, code)
    service.accept(engine, lead, check_item="CCC-01", by=ME)
    rnd = rounds.commit_round(engine=engine, plan_text=plan_yaml())
    with desk.signed_in() as http:
        targeted = http.get(f"/w/c/leads/{lead}")
        draw(engine, rnd.round_key)
        final_finding(engine, rnd.round_key, code)
        answered = http.get(f"/w/c/leads/{lead}")
        listed = http.get("/w/c/leads?show=answered")
    assert "已列入定向检查" in targeted.text
    assert f'href="/w/c/rounds/{rnd.round_key}"' in targeted.text
    assert f'href="/w/c/rounds/{rnd.round_key}/e/{code}"' not in targeted.text
    assert "已办结" in answered.text
    assert f'href="/w/c/rounds/{rnd.round_key}/e/{code}"' in answered.text
    assert f'id="lead-{lead}"' in listed.text


def test_the_merge_form_offers_what_the_service_allows_and_says_a_refusal_in_chinese(
    desk: Desk, engine: sa.Engine
) -> None:
    """The form's choices are the service's rule (``service.merge_refusal``): the other open
    leads of the enterprise. A lead answered meanwhile (its finding final, no list read since)
    or decided meanwhile is refused by the service, the field named in Chinese, nothing
    written."""
    code = _registered(engine)
    checked, kept, waiting, rejected, merged, lead = (_lead(engine, code) for _ in range(6))
    elsewhere = _lead(engine, outside_code())
    service.accept(engine, checked, check_item="CCC-01", by=ME)
    rnd = rounds.commit_round(engine=engine, plan_text=plan_yaml())
    service.accept(engine, waiting, check_item="CCC-01", by=ME)  # after the commit: accepted
    service.reject(engine, rejected, reason="重复", by=ME)
    service.merge(engine, merged, into=kept, by=ME)
    with desk.signed_in() as http:
        before = http.get(f"/w/c/leads/{lead}")
        draw(engine, rnd.round_key)
        final_finding(engine, rnd.round_key, code)  # the lead checked is answered now
        into_answered = http.post(
            f"/w/c/leads/{lead}/merge", data={"csrf": csrf_of(before.text), "into": str(checked)}
        )
        after = http.get(f"/w/c/leads/{lead}")
        into_rejected = http.post(
            f"/w/c/leads/{lead}/merge", data={"csrf": csrf_of(after.text), "into": str(rejected)}
        )
    assert _offered(before) == [str(i) for i in (checked, kept, waiting)]
    assert _offered(after) == [str(i) for i in (kept, waiting)]
    assert str(elsewhere) not in _offered(before)
    open_said = "只能合并到未办结（待处理、已受理或已列入定向检查）的线索"
    assert into_answered.status_code == 422, into_answered.text
    assert f"合并到：线索 {checked} 的状态为“已办结”，{open_said}" in into_answered.text
    assert into_rejected.status_code == 422
    assert f"合并到：线索 {rejected} 的状态为“不予受理”，{open_said}" in into_rejected.text
    assert _events(engine, "LeadMerged") == [
        {"event": "LeadMerged", "lead_id": merged, "into": kept, "reason": "", "by": ME}
    ]
    with Session(engine) as s:
        assert (row := s.get(Lead, lead)) is not None and row.status is LeadStatus.received


def test_a_confidential_reporter_is_on_no_page(desk: Desk, engine: sa.Engine) -> None:
    code = _registered(engine)
    hidden, named = _lead(engine, code), _lead(engine, code, reporter="张某（同意具名）",
                                               confidential=False)  # fmt: skip
    with desk.signed_in() as http:
        paths = ("/w/c/", "/w/c/leads", f"/w/c/leads/{hidden}", f"/w/c/leads/{named}",
                 "/w/c/leads?show=received")  # fmt: skip
        pages = [http.get(p) for p in paths]
    assert all(p.status_code == 200 for p in pages)
    assert not any(REPORTER in p.text or "13800000000" in p.text for p in pages)
    assert "张某（同意具名）" in pages[3].text  # a reporter who agreed to be named is shown
    # said as Chinese text is written, in full-width brackets (the API keeps its "(保密)")
    assert '<dd id="reporter">（保密）</dd>' in pages[2].text
    assert not any("(保密)" in p.text for p in pages)


def test_forms_need_their_csrf_token_and_the_pages_a_coordinator(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    teams = delivered_round(engine, monkeypatch)
    (code, team), *_ = sorted(teams.items())
    lead = _lead(engine, code)
    with _desk(engine) as desk:
        with desk.signed_in() as http:
            forged = http.post("/w/c/leads/new", data=_form(credit_code=code))
            other = http.post(f"/w/c/leads/{lead}/reject", data={"reason": "x", "csrf": "0" * 64})
        with httpx.Client(base_url=desk.base) as http:
            anonymous = http.get("/w/c/leads")
            open_assignment(http, desk.base, code, team[0])  # an inspector's session
            inspector = [http.get("/w/c/leads"), http.get(f"/w/c/leads/{lead}"),
                         http.post(f"/w/c/leads/{lead}/reject", data={"reason": "x"})]  # fmt: skip
    assert forged.status_code == 403 and other.status_code == 403
    assert "CSRF" in forged.text
    assert anonymous.status_code == 401
    assert [r.status_code for r in inspector] == [401, 401, 401]
    assert [x.status for x in _leads(engine)] == [LeadStatus.received]
    assert _events(engine, "LeadRejected") == []


@pytest.mark.slow
def test_on_a_phone_each_lead_is_a_block_with_its_status_in_sight(
    desk: Desk, engine: sa.Engine, tmp_path: Path
) -> None:
    code = _registered(engine)
    late = _lead(engine, code, days_ago=90, category="认证标志使用不规范且证书已过期仍在销售")
    _lead(engine, outside_code(), days_ago=1)
    with headless() as browser:
        page = phone(browser).new_page()  # JavaScript off
        sign_in_page(page, f"{desk.base}/w/c/open?token={desk.token}")
        page.goto(f"{desk.base}/w/c/leads")
        page.screenshot(path=str(tmp_path / "leads.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        status = page.locator(f"#lead-{late} td.status").bounding_box()
        page.get_by_role("link", name=f"线索 {late}", exact=True).click()
        page.screenshot(path=str(tmp_path / "lead.png"), full_page=True)
        opened = page.url, page.evaluate("document.documentElement.scrollWidth")
        banner = page.locator("#status").inner_text()
        page.goto(f"{desk.base}/w/c/leads/new")
        page.screenshot(path=str(tmp_path / "lead-new.png"), full_page=True)
        form_width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] and form_width <= PHONE["width"]
    assert status is not None and status["x"] + status["width"] <= PHONE["width"]
    assert opened == (f"{desk.base}/w/c/leads/{late}", PHONE["width"])
    assert banner.startswith("待处理")
