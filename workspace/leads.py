"""The coordinator's leads (线索): the list, the intake form and a lead's page with its triage.

A shell over ``leads.service`` (receive, accept, merge, reject, listing, get, internal_view)
and ``leads.targeting.overdue``: every rule stays there; these pages show, ask and say the
service's refusals in Chinese (``workspace.leadforms``). An urgent lead's ad hoc round starts
through the API's own runner (``app.state.adhoc_runner``), as ``POST /leads/{id}/accept`` does.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.plans import Plans, current_period, current_plans
from leads import service
from leads.api import urgent_round
from leads.models import SOURCE_LABELS, STATUS_LABELS, Lead, LeadStatus
from leads.schemas import LeadsSettings
from shuangsui.errors import Conflict, NotFound, UserError
from shuangsui.text import REASON_MAX
from workspace import leadviews, overview
from workspace.coordinator import enterprise_path, listing_link, round_path, said_key
from workspace.formvalues import text
from workspace.guards import PageRefused, Visitor, check_csrf, coordinator_session, still_current
from workspace.leadforms import KEY, LABELS, intake, refusal, sent_once
from workspace.overview import read_plans
from workspace.pages import render
from workspace.riskpages import risk_path

router = APIRouter(prefix="/w/c", include_in_schema=False)
Coordinator = Annotated[Visitor, Depends(coordinator_session)]
NUMBER = re.compile(r"[0-9]{1,9}")  # not str.isdigit, to which "²" and "９" are digits
DIGITS = re.compile(r"[0-9]+")  # a number all the same, longer than any lead's
LIST = "/w/c/leads"
# what a decision did, said on the lead's page it returns to (?done=)
DONE = {
    "received": "线索已登记。",
    "accepted": "已受理。",
    "urgent": "已受理，紧急临时抽查已开始提交：",
    "merged": "已合并。",
    "rejected": "已决定不予受理。",
}


def lead_path(lead_id: int) -> str:
    return f"{LIST}/{lead_id}"


@router.get("/leads")
def lead_list(request: Request, me: Coordinator) -> Response:
    """The open leads, the nearest deadline first, then the decided ones a page at a time
    (``leadviews.listing``); or those of one filter of ``leadviews.FILTERS``
    (``?show=received``, ``?page=2``: links, so it works without JavaScript); of those a
    search finds (``?q=``: a number, a name, a credit code: ``leadviews.found``)."""
    every = leadviews.rows(request.app.state.engine)
    sought = overview.sought(request.query_params.get("q", ""))
    rows = leadviews.found(every, sought)
    show = request.query_params.get("show", "")
    show = show if show in leadviews.FILTERS else ""
    listed = leadviews.listing(rows, show, request.query_params.get("page", ""))
    return render("leads.html", me=me.name, rows=rows, listed=listed, total=len(every),
                  counts=leadviews.counts(rows), show=show, filters=leadviews.FILTERS,
                  sought=sought, sought_max=overview.SOUGHT_MAX, link=listing_link,
                  base=LIST, lead_path=lead_path, csrf=me.csrf)  # fmt: skip


def _intake_form(me: Visitor, status: int = 200, **context: Any) -> Response:
    form = context.pop("form", None) or {"confidential": "1"}
    if not KEY.fullmatch(form.get("intake_key", "")):
        form["intake_key"] = secrets.token_hex(16)
    days = LeadsSettings().leads_deadline_days
    return render("lead_new.html", status, me=me.name, csrf=me.csrf, labels=LABELS, form=form,
                  sources=SOURCE_LABELS, days=days, **context)  # fmt: skip


@router.get("/leads/new")
def new_lead(me: Coordinator) -> Response:
    return _intake_form(me)


@router.post("/leads/new")
async def receive(request: Request, me: Coordinator) -> Response:
    """登记线索: the lead, recorded by this coordinator; the same form sent twice is one lead."""
    async with request.form() as form:  # closed here: a file sent in a field's place
        await check_csrf(request, me)
        typed, data, errors = intake(form)
    if data is not None:
        try:
            allowed = still_current(request, me)  # revoked since the check: the same page
            lead = await run_in_threadpool(service.receive, request.app.state.engine, data,
                                           by=me.name, allowed=allowed)  # fmt: skip
        except UserError as exc:
            errors = [refusal(str(exc))]
    if errors or data is None:
        return _intake_form(me, 422, form=typed, errors=errors)
    assert lead.id is not None
    return RedirectResponse(f"{lead_path(lead.id)}?done=received", status_code=303)


def _known(request: Request, lead_id: str) -> Lead:
    """The lead, or a 404 page naming it: by its number, or, when the address holds no
    number, by nothing it holds (a link made elsewhere must not put its words on the page);
    digits past nine (``NUMBER``) are said as too long, not as no number."""
    if not NUMBER.fullmatch(lead_id):
        if DIGITS.fullmatch(lead_id):
            said = "没有这条线索：地址中的线索编号过长，线索编号最多 9 位数字。"
            raise PageRefused(404, said, back=LIST)
        raise PageRefused(404, "没有这条线索：地址中的线索编号应为数字。", back=LIST)
    try:
        return service.get(request.app.state.engine, int(lead_id))
    except NotFound:
        raise PageRefused(404, f"没有线索 {lead_id}。", back=LIST) from None


@router.get("/leads/{lead_id}")
def lead_page(lead_id: str, request: Request, me: Coordinator) -> Response:
    """Every field of the lead (a confidential reporter said （保密）: ``leadviews.detail``), its
    decision, where it went; while it waits, the forms to accept, merge or reject it (the merge
    form's choices by the service's rule: ``leadviews.merge_targets``). A lead of an enterprise
    the registry does not hold says so (``leadviews.NOT_IN_REGISTRY``), and has no 受理 form."""
    lead = _known(request, lead_id)
    return _page(request, me, lead, done=request.query_params.get("done", ""))


def _page(
    request: Request, me: Visitor, lead: Lead, *, done: str = "", refused: str = "",
    form: str = "", sent: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """The lead's page; refusing a decision (422), it says why above the form ``form``
    (accept, merge or reject) and gives back what was typed in it (a reason cut at twice its
    bound: a form sent by a script may carry more), as the intake form does: a reason pasted
    with a zero-width space was lost with the page."""
    engine = request.app.state.engine
    view = leadviews.detail(engine, lead)
    kept = {name: value[: 2 * REASON_MAX] for name, value in (sent or {}).items()}
    context: dict[str, Any] = {"refused": refused, "form": form, "sent": kept}
    if lead.status is LeadStatus.received:
        plans = _offered(request)
        context |= {
            "check_items": leadviews.check_items(engine),
            "plans": [
                (str(p["id"]), str(p.get("title", "")), str(p["check_item"])) for _, p in plans
            ],  # fmt: skip
            "others": leadviews.merge_targets(engine, lead),
        }
    return render("lead.html", 422 if refused else 200, me=me.name, csrf=me.csrf, view=view,
                  labels=LABELS, done=DONE.get(done, ""), adhoc=said_key(request, "round"),
                  round_path=round_path, enterprise_path=enterprise_path, lead_path=lead_path,
                  back=LIST, not_in_registry=leadviews.NOT_IN_REGISTRY, risk_path=risk_path,
                  **context)  # fmt: skip


def _decided(request: Request, lead: Lead, exc: Conflict) -> PageRefused:
    """A lead decided meanwhile: what was decided, and by whom (409)."""
    now = service.get(request.app.state.engine, lead.id or 0)
    by = f"（{now.decided_by}）" if now.decided_by else ""
    said = f"线索 {now.id} 已经处理过：{STATUS_LABELS[now.status]}{by}。每条线索只能处理一次。"
    return PageRefused(409, said, back=lead_path(now.id or 0))


async def _decide(
    request: Request, me: Visitor, lead: Lead, step: Any, sent: dict[str, str], **kw: Any
) -> Lead | Response:
    """Run the service's ``step`` on ``lead`` as ``me``, whose token is checked again in its
    transaction (revoked since the page let the form in: the page of a revoked token); a
    decision made meanwhile as a page of its own (409), any other refusal as the lead's page
    again in Chinese, with the form's fields ``sent`` as typed (422)."""
    allowed = still_current(request, me)
    try:
        decided: Lead = await run_in_threadpool(
            step, request.app.state.engine, lead.id, by=me.name, allowed=allowed, **kw
        )
    except Conflict as exc:
        raise await run_in_threadpool(_decided, request, lead, exc) from None
    except UserError as exc:
        form = step.__name__  # accept, merge or reject: the form, as its section is named
        return await run_in_threadpool(functools.partial(
            _page, request, me, lead, refused=refusal(str(exc)), form=form, sent=sent))  # fmt: skip
    return decided


async def _fields(
    request: Request, me: Visitor, lead_id: str, names: tuple[str, ...]
) -> tuple[Lead, dict[str, str]]:
    """The lead a decision's form is for, and its fields ``names`` (stripped), once the CSRF
    token is checked; a field sent twice or as a file is a 422 naming it
    (``leadforms.sent_once``), nothing decided. The form's files are closed here."""
    async with request.form() as form:
        await check_csrf(request, me)
        lead = await run_in_threadpool(_known, request, lead_id)
        if problems := sent_once(form, names):
            raise PageRefused(422, "；".join(problems) + "。", back=lead_path(lead.id or 0))
        return lead, {name: text(form, name).strip() for name in names}


@router.post("/leads/{lead_id}/accept")
async def accept(lead_id: str, request: Request, me: Coordinator) -> Response:
    """受理 for a check item; urgent with a plan of that item: its ad hoc round starts now."""
    lead, sent = await _fields(
        request, me, lead_id, ("check_item", "adhoc_plan", "urgent", "reason")
    )
    item, plan = sent["check_item"], sent["adhoc_plan"]
    urgent = sent["urgent"] == "1"
    back = lead_path(lead.id or 0)
    if not item:
        raise PageRefused(422, f"{LABELS['check_item']}：必填", back=back)
    engine = request.app.state.engine
    if not await run_in_threadpool(service.in_registry, engine, lead.credit_code):
        raise PageRefused(422, leadviews.NOT_IN_REGISTRY, back=back)  # the service refuses too
    far = await run_in_threadpool(service.unreachable, engine, lead.credit_code, item)
    offered = None
    if far is None and plan:  # and the urgent lead's round must be able to draw it
        offered = await run_in_threadpool(_check_plan, request, plan, item, urgent, back)
        far = await run_in_threadpool(service.plan_misses, engine, lead, offered)
    if far:
        # no round of the item (or of the plan) can target the enterprise (the service
        # refuses it too): the lead's page again, why above 受理 and its fields as sent
        return await run_in_threadpool(functools.partial(
            _page, request, me, lead, refused=far.chinese, form="accept", sent=sent))  # fmt: skip
    decided = await _decide(request, me, lead, service.accept, sent, check_item=item,
                            reason=sent["reason"], urgent=urgent, adhoc_plan=offered)  # fmt: skip
    if isinstance(decided, Response):
        return decided
    if not plan:
        return RedirectResponse(f"{back}?done=accepted", status_code=303)
    runner = request.app.state.adhoc_runner
    try:
        started = await run_in_threadpool(runner, urgent_round(decided, plan, me.name))
    except UserError:
        said = "线索已受理；紧急临时抽查未能开始，请从“发起临时抽查”页面发起。"
        raise PageRefused(422, said, back=back) from None
    key = str(started.get("round_key", ""))
    return RedirectResponse(f"{back}?done=urgent&round={key}", status_code=303)


def _offered(request: Request) -> Plans:
    """The plans an urgent lead's round may take: the current ones (``current_plans``: not a
    past month's, whose round would be late the day it is drawn)."""
    settings = request.app.state.settings
    return current_plans(read_plans(settings.plans_dir)[0], current_period(settings.timezone))


def _check_plan(
    request: Request, plan: str, item: str, urgent: bool, back: str
) -> Mapping[str, Any]:
    """An urgent lead's plan: one the lead's page offers, of the check item accepted."""
    label = LABELS["adhoc_plan"]
    if not urgent:
        raise PageRefused(422, f"{label}：仅用于紧急线索（请勾选“{LABELS['urgent']}”）", back)
    plans = {str(p["id"]): p for _, p in _offered(request)}
    if plan not in plans:
        raise PageRefused(422, f"{label}：没有可用的计划 {plan}", back)
    if (checks := plans[plan]["check_item"]) != item:
        raise PageRefused(422, f"{label}：计划 {plan} 的检查事项是 {checks}，不是 {item}", back)
    return plans[plan]


@router.post("/leads/{lead_id}/merge")
async def merge(lead_id: str, request: Request, me: Coordinator) -> Response:
    """合并 into another open lead of the same enterprise (``service.merge_refusal``)."""
    lead, sent = await _fields(request, me, lead_id, ("into", "reason"))
    into = sent["into"]
    if not NUMBER.fullmatch(into):
        said = "请选择要合并到的线索" if not into else f"没有线索 {into}"
        raise PageRefused(422, f"{LABELS['into']}：{said}", back=lead_path(lead.id or 0))
    decided = await _decide(request, me, lead, service.merge, sent, into=int(into),
                            reason=sent["reason"])  # fmt: skip
    if isinstance(decided, Response):
        return decided
    return RedirectResponse(f"{lead_path(lead.id or 0)}?done=merged", status_code=303)


@router.post("/leads/{lead_id}/reject")
async def reject(lead_id: str, request: Request, me: Coordinator) -> Response:
    """不予受理, with the reason (required)."""
    lead, sent = await _fields(request, me, lead_id, ("reason",))
    decided = await _decide(request, me, lead, service.reject, sent, reason=sent["reason"])
    if isinstance(decided, Response):
        return decided
    return RedirectResponse(f"{lead_path(lead.id or 0)}?done=rejected", status_code=303)
