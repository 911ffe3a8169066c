"""The coordinator's ad hoc round: a form, the preflight preview, then the start; and the
ceremony step (witnesses and digits) of an ad hoc round already committed.

Starting goes through the API's own runner (``app.state.adhoc_runner``: the ``adhoc-round``
deployment, or a thread of this process), so the page does nothing the API would not; a
committed round's ceremony, ad hoc or scheduled, through its draw runner
(``app.state.draw_runner``: ``draw-round``), which draws the round as it was committed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api import adhoc as api_adhoc
from api import ceremonies as api_ceremonies
from api import runs
from api.adhoc import (
    DIGITS_MAX,
    REASON_MAX,
    WITNESS_MAX,
    WITNESSES_MAX,
    ceremony_digits,
)
from draw.entropy import digits_wrong
from draw.plan import normalise_division
from flows.plans import current_period, current_plans
from registry.divisions import divisions, is_prefecture
from rounds import audit
from rounds.entropy import awaits_witnesses, check_witnesses
from rounds.holds import (
    Change,
    EmptyPopulation,
    FrameMoved,
    NeverImported,
    Refusal,
    RegistryStale,
    StratumAppears,
    StratumVanishes,
)
from rounds.models import Round, RoundKind, RoundStatus
from rounds.plans import apply_overrides, in_jurisdiction
from rounds.preflight import (
    Preflight,
    preflight,
    refusals,
)
from shuangsui.clock import local_label
from shuangsui.db import one_moment
from shuangsui.errors import PlanError, UserError
from shuangsui.keys import InvalidKey, adhoc_round_key
from shuangsui.text import no_control_in_text
from workspace.coordinator import no_round, round_path
from workspace.events import AdhocRequested, CeremonyEntered
from workspace.forms import in_chinese, too_long
from workspace.formvalues import text
from workspace.guards import PageRefused, Visitor, check_csrf, coordinator_session
from workspace.leadforms import sent_once
from workspace.overview import read_plans, round_title
from workspace.pages import render

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/w/c", include_in_schema=False)
Coordinator = Annotated[Visitor, Depends(coordinator_session)]
RATE = re.compile(r"^\s*([A-Za-z]+)\s*=\s*([0-9]{1,3}(?:\.[0-9]{1,6})?)\s*%\s*$")
CAP = re.compile(r"[0-9]{1,9}")  # not str.isdigit, to which "²" and "９" are digits

# the fields as the forms label them (adhoc.html shows these words; round.html the
# ceremony's): a refusal names its field so, never by its name in the HTML
LABELS = {
    "plan": "抽查计划",
    "reason": "原因",
    "rates": "提高抽查比例",
    "total_cap": "抽取总数上限",
    "divisions": "限定行政区划",
    "witnesses": "见证人",
    "witness_digits": "见证人产生的数字",
    "confirmed": "核对确认",
}
# the plan's and the runner's refusals (English, for the CLI and the API) as this page says
# them, naming the form's field (workspace.forms.in_chinese; first match wins)
_REFUSED = [
    (r"^overrides\.rates\.([^:]+): (\S+) is below the plan's (\S+);",
     f"{LABELS['rates']}：{{0}} 类的 {{1}} 低于计划规定的 {{2}}；临时抽查只能提高抽查比例"),
    (r"^overrides\.rates\.([^:]+): the plan has no rate for",
     f"{LABELS['rates']}：计划中没有 {{0}} 类的抽查比例"),
    (r"targeted\.list: (\S+) is not in the plan's population",
     f"计划的定向检查名单中的企业 {{0}} 不在本轮抽查范围内：请核对{LABELS['divisions']}"),
    (r"^plan '(.+)': no such file, and no plan with that id",
     f"{LABELS['plan']}：没有可用的计划 {{0}}"),
    (r"^plan '(.+)' is outside the plans directory",
     f"{LABELS['plan']}：计划 {{0}} 不在计划文件夹内，请联系管理员"),
    (r"^plan '(.+)': a plan file ends in", f"{LABELS['plan']}：{{0}} 不是计划文件，请联系管理员"),
    (r"^plans directory .* does not exist", f"{LABELS['plan']}：计划文件夹不存在，请联系管理员"),
    (r"window: check item (\S+) is already checked in this window by (\S+) \(",
     "检查事项 {0} 在本检查期间已由轮次 {1} 检查：请另选检查期间；如为复查，请在原因中写明“复查”"),
    (r"^overrides\.rates\.([^:]+): rate '.*' (must be a percentage|exceeds 100%)",
     f"{LABELS['rates']}：{{0}} 类的比例应为 0% 至 100% 之间的百分数"),
    (r"^overrides\.[^:]+: unknown override", "本页提交了计划不接受的调整项，请联系管理员"),
    (r"strata\.rates: no rate for risk class '(.+?)' \(enterprise (\S+)\)",
     "计划中没有 {0} 类企业的抽查比例，而名录库中的企业 {1} 属于 {0} 类：请联系管理员修改计划"),
    (r"divisions\.\d+: (\d+) \((.+?)\) is outside this bureau's jurisdiction "
     r"(\d+) \((.+?)\)",
     f"{LABELS['divisions']}：{{0}}（{{1}}）不在本局辖区 {{2}}（{{3}}）之内"),
    (r"divisions\.\d+: (\d+) is not a GB/T 2260 division code",
     f"{LABELS['divisions']}：{{0}} 不是有效的行政区划代码"),
    (r"check_item: '(.+?)' is not in the check-item list",
     "计划的检查事项 {0} 不在检查事项清单中，请联系管理员导入检查事项清单"),
    (r"population\.cert_kinds\.\d+: '(.+?)' is not a certificate kind of check item (\S+)",
     "计划的证书种类 {0} 不属于检查事项 {1}，请联系管理员修改计划"),
    (r"^witnesses\[\d+\]: contains the \w+ character (U\+[0-9A-F]{4})",
     f"{LABELS['witnesses']}：含有不可见字符（{{0}}，如文字方向控制符，多为粘贴带入），请删去后重填"),
    (r"^witnesses\[\d+\]: contains ", f"{LABELS['witnesses']}：含有不可见字符，请删去后重填"),
    (r"^witness_digits: the ceremony's digits are what this draw takes",
     f"{LABELS['witness_digits']}：必填"),
    (r"^witness_digits: the ceremony's digits go with round_id",
     f"{LABELS['witness_digits']}：在轮次提交之后、摇号仪式时填写"),
]  # fmt: skip
# what the page says of any other refusal, by its kind (the most particular first): the plan
# file's, the registry's data or a key's grammar, none of which the form can change. The
# English goes to the server's log, for whoever keeps the plans and the registry (the API and
# the CLI say it as it is); a test walks the service's refusals for one left out of both
BY_KIND: dict[type[UserError], str] = {
    InvalidKey: "{label}：编号不符合系统的编号规则（详情已记入服务器日志），请联系管理员",
    PlanError: "计划 {plan} 现在不能用于临时抽查：计划文件或名录库中有系统不能接受的内容"
               "（详情已记入服务器日志），请联系管理员",
    UserError: "系统未接受这次请求（详情已记入服务器日志），请联系管理员",
}  # fmt: skip


class PlanNotOffered(PlanError):
    """The form names a plan the page does not offer (no such plan, or a file that does not
    read); its message is the page's own words."""


def refusal(exc: UserError, plan: str) -> str:
    """A refusal of the plan, the preflight or the runner (English, for the CLI and the API)
    as this page says it: by :data:`_REFUSED` when it names what the form can change, else
    by its kind (:data:`BY_KIND`). ``plan``: the plan the form named."""
    if isinstance(exc, PlanNotOffered):
        return str(exc)
    said = in_chinese(str(exc), _REFUSED)
    if said != str(exc):
        return said
    logger.warning("ad hoc round of plan %r refused: %s", plan, exc)
    kind = next(k for k in BY_KIND if isinstance(exc, k))
    label = LABELS.get(getattr(exc, "field", ""), "轮次编号")
    return BY_KIND[kind].format(plan=plan, label=label)


def recorded_refusal(kind: str, error: str, plan: str) -> str:
    """A refusal the audit log holds (``AdhocRefused``: its class's name and its words; a
    round refused in the background, after this page answered) as :func:`refusal` says one
    raised."""
    said = in_chinese(error, _REFUSED)
    if said != error:
        return said
    kinds = {k.__name__: k for k in BY_KIND}
    return BY_KIND[kinds.get(kind, UserError)].format(plan=plan, label="轮次编号")


Plans = tuple[list[tuple[Path, dict[str, Any]]], list[str]]  # workspace.overview.read_plans


def _plans(request: Request) -> Plans:
    """The plans folder read once per request: the current plans (``current_plans``: not a
    past month's, whose round would be late the day it is drawn), a notice per broken file."""
    settings = request.app.state.settings
    plans, notices = read_plans(settings.plans_dir)
    return current_plans(plans, current_period(settings.timezone)), notices


def prefectures(bureau_code: str, day: dt.date) -> list[tuple[str, str]]:
    """The prefecture-level divisions in force in the bureau's jurisdiction (code, name): what
    the form's 限定行政区划 may name, beside their counties' codes."""
    table = divisions()
    return [
        (c, table.name(c, day))
        for c in table.codes_in_force(day)
        if in_jurisdiction(c, bureau_code) and is_prefecture(c) and c != bureau_code
    ]


def _form(
    request: Request, me: Visitor, plans: Plans, status: int = 200, **context: Any
) -> Response:
    """The form, offering the plans that read (id, title), naming those that do not."""
    choices = [(str(p["id"]), str(p.get("title", ""))) for _, p in plans[0]]
    settings = request.app.state.settings
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    return render("adhoc.html", status, me=me.name, csrf=me.csrf, plans=choices,
                  notices=plans[1], labels=LABELS, reason_max=REASON_MAX,
                  prefectures=prefectures(settings.bureau_code, today), **context)  # fmt: skip


FIELDS = ("plan", "reason", "rates", "total_cap", "divisions", "action", "start_key")


def params_of(form: Any, who: str) -> tuple[dict[str, Any], list[str]]:
    """The ad hoc round's parameters from the form, or what is wrong (naming the field): a
    field sent twice or as a file (``leadforms.sent_once``) before any is read, and a reason
    with a control or invisible character (audited, and shown with the round's title) or
    longer than the API takes (``api.adhoc.REASON_MAX``: a page's round published any)."""
    params: dict[str, Any] = {"requested_by": who, "plan": "", "reason": ""}
    if errors := sent_once(form, FIELDS, LABELS):
        return params, errors
    for name in ("plan", "reason"):
        value = text(form, name).strip()
        if not value:
            errors.append(f"{LABELS[name]}：必填")
        params[name] = value
    if len(params["reason"]) > REASON_MAX:  # as the API refuses it (it is published)
        errors.append(f"{LABELS['reason']}：{too_long(params['reason'])}")
    try:
        no_control_in_text(params["reason"])
    except ValueError as exc:
        errors.append(f"{LABELS['reason']}：{in_chinese(str(exc))}")
    rates = {}
    for part in re.split(r"[,，;；\s]+", text(form, "rates").strip()):
        if not part:
            continue
        m = RATE.match(part)
        if m is None:
            errors.append(f"{LABELS['rates']}：{part!r} 应写成 类别=百分比，例如 D=50%")
        elif Decimal(m.group(2)) > 100:
            errors.append(f"{LABELS['rates']}：{part!r} 超过 100%")
        else:
            rates[m.group(1).upper()] = f"{m.group(2)}%"
    if rates:
        params["rates"] = rates
    cap = text(form, "total_cap").strip()
    if cap:
        if CAP.fullmatch(cap) and int(cap) > 0:
            params["total_cap"] = int(cap)
        else:
            errors.append(f"{LABELS['total_cap']}：应为正整数")
    divisions = [d for d in re.split(r"[,，;；\s]+", text(form, "divisions")) if d]
    for d in divisions:
        try:
            normalise_division(d)
        except ValueError:
            said = f"{d!r} 应为 2、4 或 6 位行政区划代码，例如 35 或 350100"
            errors.append(f"{LABELS['divisions']}：{said}")
    if divisions:
        params["divisions"] = divisions
    return params, errors


@dataclass(frozen=True)
class Preview:
    """A preflight as this page shows it, in Chinese (``rounds.preflight.describe`` keeps its
    English for the CLI): the report, whose numbers the template reads, and what needs words."""

    report: Preflight
    rates: dict[str, str]  # stratum -> its rate as the plan writes it, "10%"
    changes: list[str]  # the strata that appeared or vanished since the last comparable round
    imported: str | None  # when the registry was last imported, Beijing time
    held: list[str]  # the reasons to hold (rounds.preflight.refusals)


# rounds.preflight's reasons to hold and the frame's changes, by kind, as this page says them
# (``{r.stratum}`` and the like: the reason's fields); a test refuses a kind left out here
HELD: dict[type[Refusal | Change], str] = {
    EmptyPopulation: "抽查范围为空：名录库中没有符合计划 {r.plan_id} 的企业"
                     "（名录库是否已导入？行政区划和证书种类是否正确？）",
    NeverImported: "名录库从未导入",
    # the page shows the import's time in Beijing time
    RegistryStale: "名录库已超过 {r.max_age_days} 天未导入（SHUANGSUI_REGISTRY_MAX_AGE_DAYS）",
    FrameMoved: "抽查范围内有 {r.frame_size} 家企业，与轮次 {r.last_round} 的 {r.last_size} 家"
                "相差 {r.moved:.0%}（超过 {r.limit:.0%}，SHUANGSUI_FRAME_CHANGE_LIMIT）",
    StratumAppears: "新增层级 {r.stratum}",
    StratumVanishes: "层级 {r.stratum} 已不存在",
}  # fmt: skip


def said(reason: Refusal | Change) -> str:
    """A reason to hold, or a change of the frame, as this page says it."""
    return HELD[type(reason)].format(r=reason)


def percent(rate: str) -> str:
    """A stratum's rate as the preflight gives it (a fraction, ``1/10``) as the plan writes it
    (``10%``): a plan's rates are decimal percentages, so the decimal is exact."""
    value = Fraction(rate) * 100
    return f"{(Decimal(value.numerator) / value.denominator).normalize():f}%"


def shown(report: Preflight, held: list[Refusal]) -> Preview:
    """The preflight ``report`` and its reasons to hold, ready for the page."""
    imported = report.registry_imported_at
    return Preview(
        report,
        {s.stratum: percent(s.rate) for s in report.strata},
        [said(change) for change in report.changes],
        local_label(imported) if imported else None,
        [said(reason) for reason in held],
    )


def preview(request: Request, params: dict[str, Any], plans: Plans) -> Preview:
    """The preflight of the plan with the overrides, and the reasons to hold."""
    settings = request.app.state.settings
    # only a plan that reads: a broken file is not offered, nor taken
    plan = next((p for _, p in plans[0] if p["id"] == params["plan"]), None)
    if plan is None:
        raise PlanNotOffered(f"{LABELS['plan']}：没有可用的计划 {params['plan']}")
    overrides: dict[str, Any] = {
        k: params[k] for k in ("rates", "total_cap", "divisions") if k in params
    }
    plan = apply_overrides(plan, overrides)
    with one_moment(request.app.state.engine) as conn:  # as the commit reads them
        report = preflight(conn, plan, source=params["plan"], bureau_code=settings.bureau_code)
    held = refusals(
        report,
        now=dt.datetime.now(dt.UTC),
        max_age_days=settings.registry_max_age_days,
        max_change=settings.frame_change_limit,
    )
    return shown(report, held)


@router.get("/adhoc")
def adhoc_form(request: Request, me: Coordinator) -> Response:
    return _form(request, me, _plans(request), form={})


@router.post("/adhoc")
async def adhoc_post(request: Request, me: Coordinator) -> Response:
    """预览 (the preflight, nothing committed) or 开始 (start the round)."""
    async with request.form() as form:  # closed here: a file sent in a field's place
        await check_csrf(request, me)
        params, errors = params_of(form, me.name)
        start = text(form, "action") == "start"
        start_key = text(form, "start_key")
        typed = {name: text(form, name) for name in FIELDS}  # shown again: never a file
    plans = await run_in_threadpool(_plans, request)
    previewed: Preview | None = None
    if not errors:
        try:
            previewed = await run_in_threadpool(preview, request, params, plans)
        except UserError as exc:
            errors = [refusal(exc, params["plan"])]
    if start and not errors and not START_KEY.fullmatch(start_key):
        errors = ["请先预检，确认预检结果后再提交并开始。"]
    if start and not errors and previewed and previewed.held:
        errors = ["预检建议暂缓（见下），本轮不能开始；请调整后重新预检。"]
    if errors or not start:
        start_key = start_key or secrets.token_hex(16)
        return _form(request, me, plans, 422 if errors else 200, form=typed, errors=errors,
                     preview=previewed, start_key=start_key)  # fmt: skip
    # the form's start key and what it asks name the round: the same form sent twice (a
    # double click) starts nothing more; the form changed and sent again is another round
    asked = json.dumps(params, ensure_ascii=False, sort_keys=True)
    params["round_id"] = adhoc_round_key(params["plan"], f"workspace|{start_key}|{asked}")
    try:
        key = await run_in_threadpool(_start_once, request, params, me.name)
    except UserError as exc:  # the runner's own checks (the plan looked up again)
        return _form(request, me, plans, 422, form=typed, errors=[refusal(exc, params["plan"])],
                     preview=previewed, start_key=start_key)  # fmt: skip
    return RedirectResponse(f"/w/c/?started={quote(key, safe='')}", status_code=303)


START_KEY = re.compile(r"[0-9a-f]{32}")
# rounds this process started from the form, so that two clicks at once start one
_started: set[str] = set()
_starting = threading.Lock()


def _start_once(request: Request, params: dict[str, Any], who: str) -> str:
    """Start the round named ``params["round_id"]`` unless this process started it already
    or it is in the database (a form sent twice); its key either way. Audited once."""
    key = str(params["round_id"])
    state = request.app.state
    with _starting:
        if key in _started:
            return key
        with Session(state.engine) as db:
            if db.get(Round, key) is not None:
                return key
        started = state.adhoc_runner(params)
        _started.add(key)
    key = started["round_key"]
    audit.append(state.engine, key, AdhocRequested(params["plan"], params["reason"], who, "start"))
    return key


def digit_groups(digits: str, size: int = 4) -> list[str]:
    """``digits`` in groups of ``size``, as they are read aloud and checked."""
    return [digits[i : i + size] for i in range(0, len(digits), size)]


@dataclass(frozen=True)
class RefusedCeremony:
    """A ceremony whose digits were not used: the round was drawn by another one (two posted
    at once: both pages said the draw was under way; the runner's refusal went to the log),
    or another ceremony held the round (``held``: answered 409 at once, and listed here so
    that the coordinators see whose digits were turned away)."""

    by: str  # who entered the digits
    at: str  # when the refusal was recorded, in the bureau's zone
    held: bool = False  # refused because another ceremony was under way
    entered_by: str = ""  # held: whose ceremony held the round
    entered_at: str = ""  # held: when that one was entered, in the bureau's zone
    by_command: bool = False  # held: by ``shuangsui round draw`` run by ``entered_by``


def refused_ceremonies(engine: Any, round_key: str, zone: str) -> list[RefusedCeremony]:
    """The round's ceremonies whose digits were not used (``api.adhoc``'s), for the round's
    page: where a coordinator looks after entering the digits."""
    with Session(engine) as db:
        refused = api_adhoc.refused_ceremonies(db, round_key)
    return [RefusedCeremony(r.by, local_label(r.at, zone), r.reason == "held", r.entered_by,
                            local_label(r.entered_at, zone) if r.entered_at else "",
                            r.by_command)
            for r in refused]  # fmt: skip


@dataclass(frozen=True)
class CeremonyHold:
    """The round's last ceremony while the round is undrawn, for its page: being drawn (the
    page refreshes itself until the draw is made), or no longer holding the round."""

    by: str
    at: str  # when it was entered, in the bureau's zone
    live: bool
    error: str  # its run's failure as recorded ("" when the hold expired instead)
    run_ended: str = ""  # how its deployment run was found to have ended, as the page says it
    by_command: bool = False  # ``shuangsui round draw`` run by ``by`` holds the round


# a deployment run's final state (``api.ceremonies.FINAL``) as the round's page says it
RUN_ENDED = {"CANCELLED": "已取消", "CRASHED": "已崩溃", "FAILED": "失败", "COMPLETED": "已结束"}


REFRESH_SECONDS = 5  # how often the round's page reloads itself while its draw is under way
HOLD_MINUTES = int(api_ceremonies.HOLD.total_seconds()) // 60


def ceremony_hold(engine: Any, round_key: str, zone: str) -> CeremonyHold | None:
    """The round's last ceremony (``api.ceremonies``), while the round is undrawn; a live
    hold's deployment run asked of Prefect first (a run ended with no draw ends it)."""
    hold = api_ceremonies.hold_of(engine, round_key, runs.remembered_state)
    if hold is None:
        return None
    first = hold.ceremony
    at = local_label(first.at, zone) if first.at else ""
    ended = RUN_ENDED.get(hold.run_state, hold.run_state)
    return CeremonyHold(first.requested_by, at, hold.live, hold.error, ended, first.by_command)


@router.post("/rounds/{round_key}/ceremony")
async def ceremony(round_key: str, request: Request, me: Coordinator) -> Response:
    """The ceremony of a committed round, ad hoc or scheduled: the witnesses and the digits
    they produced, entered after the commitment was published. Sent from the round's page,
    the digits and witnesses come back on a page of their own for the witnesses to read
    against what they produced (a draw is never made again: a digit mistyped would be drawn
    for good); sent from that page (``confirmed``), the round is drawn."""
    async with request.form() as form:  # closed here: a file sent in a field's place
        await check_csrf(request, me)
        wrong = sent_once(form, ("witness_digits", "witnesses", "confirmed"), LABELS)
        digits = text(form, "witness_digits").strip()
        witnesses = [w for w in re.split(r"[,，、;；\s]+", text(form, "witnesses")) if w]
        confirmed = text(form, "confirmed") == "1"
    with Session(request.app.state.engine) as db:
        rnd = db.get(Round, round_key)
    base = round_path(round_key)
    if rnd is None:
        raise no_round(round_key)
    # a confirmed ceremony of a round drawn meanwhile is told whose digits drew it (below)
    drawn_meanwhile = confirmed and rnd.status is RoundStatus.drawn
    if not awaits_witnesses(rnd) and not drawn_meanwhile:
        said = "只有已提交、尚未摇号、等待见证人数字的轮次可以在此进行摇号仪式。"
        raise PageRefused(409, said, back=base)
    if wrong:  # a field twice, or a file: read as nothing, said as what it is
        raise PageRefused(422, "；".join(wrong) + "。", back=base)
    least = ceremony_digits(rnd)
    wrong_digits = digits_wrong(digits, least, DIGITS_MAX)  # as the API: they are published
    if wrong_digits == "not digits":
        said = "只能是数字 0-9（半角，不含空格）" if digits else "必填"
        wrong.append(f"{LABELS['witness_digits']}：{said}")
    elif wrong_digits == "too few":
        wrong.append(f"{LABELS['witness_digits']}：只有 {len(digits)} 位，本轮承诺至少 {least} 位")
    elif wrong_digits == "too many":
        wrong.append(f"{LABELS['witness_digits']}：有 {len(digits)} 位，最多 {DIGITS_MAX} 位")
    if not witnesses:
        wrong.append(f"{LABELS['witnesses']}：至少一名见证人")
    elif len(witnesses) > WITNESSES_MAX:
        wrong.append(f"{LABELS['witnesses']}：有 {len(witnesses)} 名，最多 {WITNESSES_MAX} 名")
    if long := [w for w in witnesses if len(w) > WITNESS_MAX]:  # published with the round
        wrong.append(f"{LABELS['witnesses']}：姓名最多 {WITNESS_MAX} 个字符，"
                     f"有 {len(long)} 个超过（{len(long[0])} 个字符）")  # fmt: skip
    try:  # the runner's own check, made before the names are read back
        check_witnesses(witnesses)
    except UserError as exc:
        wrong.append(refusal(exc, rnd.plan_id))
    if wrong:  # back to the round's page, where the ceremony's form is
        raise PageRefused(422, "；".join(wrong) + "。", back=base)
    if not confirmed:  # read back to the witnesses before anything is drawn
        with Session(request.app.state.engine) as db:
            title = round_title(db, rnd)
        return render("ceremony.html", me=me.name, csrf=me.csrf, base=base, title=title,
                      round_key=round_key, digits=digits, groups=digit_groups(digits),
                      witnesses=witnesses)  # fmt: skip
    state = request.app.state
    entered = {"requested_by": me.name, "witness_digits": digits, "witnesses": witnesses}
    # Either kind is drawn by the draw-round flow, which draws the round as committed. The
    # adhoc-round flow would ask for the plan again, and a round committed with a cap, raised
    # rates or divisions (which this form cannot repeat) was refused in the background as
    # "committed with other arguments", after this page had said the draw was under way.
    event: AdhocRequested | CeremonyEntered = CeremonyEntered(rnd.plan_id, me.name)
    if rnd.kind is RoundKind.adhoc:
        event = AdhocRequested(rnd.plan_id, rnd.reason, me.name, "ceremony")
    try:
        first, _ = await run_in_threadpool(api_adhoc.run_ceremony, state.engine,
                                           state.draw_runner, {"round_key": round_key} | entered,
                                           round_key, event, runs.run_state)  # fmt: skip
    except UserError as exc:  # the runner's own checks
        raise PageRefused(422, refusal(exc, rnd.plan_id), back=base) from None
    if first is not None:
        raise PageRefused(409, not_used(first, state.settings.timezone), back=base)
    return RedirectResponse(f"{base}?ceremony=1", status_code=303)


def not_used(first: api_adhoc.Ceremony, zone: str) -> str:
    """A ceremony refused because another was entered first, as the page says it."""
    at = local_label(first.at, zone) if first.at else ""
    if first.drawn_at is None and first.by_command:
        return (f"您提交的仪式数字未被采用：{first.requested_by} 已于 {at} 用命令行"
                "（shuangsui round draw）开始本轮摇号，正在摇号，一轮只摇一次；这次提交已记入"
                "审计日志。请稍后查看本轮次页面的摇号结果。")  # fmt: skip
    if first.drawn_at is None:
        return (f"您提交的仪式数字未被采用：{first.requested_by} 已于 {at} 提交本轮的仪式数字，"
                "正在以其摇号，一轮只摇一次。请查看本轮次页面的摇号结果。")  # fmt: skip
    drawn = local_label(first.drawn_at, zone)
    by = f"由 {first.requested_by} 于 {at} 提交的仪式数字" if first.requested_by else ""
    return (f"您提交的仪式数字未被采用：本轮已{by}摇号（摇号时间 {drawn}），一轮只摇一次；"
            "这次提交已记入审计日志。")  # fmt: skip
