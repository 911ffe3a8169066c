"""The coordinator's workspace: this month, a round, the exports.

Signed in the same way as an inspector: ``/w/c/open?token=ssc_...`` shows a page whose button
POSTs the token; that becomes a session cookie (path ``/w/c``) and a 303 to the month page, so
the token leaves the address bar (``workspace.guards``, "Signing in takes two steps").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session as DbSession
from sqlmodel import col, func, select
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, bearer
from api.semantics import sent_method
from findings import evidence
from findings.media import disposition
from notifications.admin import retry_dead
from registry.models import Inspector
from rounds import audit
from rounds.models import Assignment, Round
from shuangsui import writes
from shuangsui.clock import local_label
from shuangsui.errors import UserError
from shuangsui.keys import PERIOD, is_key
from shuangsui.text import cut
from workspace import (
    assignment,
    attachments,
    exports,
    overview,
    redates,
    relinks,
    replacements,
    sessions,
)
from workspace.events import DeadLettersRequeued, ExportDownloaded, WorkspaceOpened
from workspace.guards import (
    PageRefused,
    SignIn,
    Visitor,
    check_csrf,
    coordinator_binding,
    coordinator_form,
    coordinator_link,
    coordinator_session,
    still_current,
)
from workspace.pages import render

router = APIRouter(prefix="/w/c", include_in_schema=False)
Coordinator = Annotated[Visitor, Depends(coordinator_session)]

# the years a month page shows without a plan or round of its own: none of the bureau's spot
# checks (双随机、一公开, since 2015) is before 2000, and a plan is written for this century
YEARS = range(2000, 2100)
EXPORTS = {
    "assignments": ("任务分配表", exports.ASSIGNMENT_HEADER, exports.assignment_rows),
    "findings": ("检查结果", exports.FINDINGS_HEADER, exports.findings_rows),
    "template": ("检查结果导入模板", exports.TEMPLATE_HEADER, exports.template_rows),
}
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@router.get("/open")
def open_page(request: Request, who: Annotated[Principal, Depends(coordinator_link)]) -> Response:
    """The coordinator's link: the token checked (a dead one is said at once), then a page
    naming the bureau's workspace, whose button signs in (:func:`sign_in`). It changes
    nothing: a link scanner's fetch or another site's image opens nothing."""
    bureau = request.app.state.settings.bureau_name
    return render(
        "open.html",
        action="/w/c/open",
        token=bearer(request),
        heading="进入协调员工作台",
        facts=[("工作台", f"{bureau}的双随机工作台"), ("协调员", who.name)],
        button="进入",
    )


@router.post("/open")
def sign_in(request: Request, signed: Annotated[SignIn, Depends(coordinator_form)]) -> Response:
    """The link page's button: the token it posts checked as the link's (a form from another
    origin is refused before it gets here), exchanged for a session bound to it and the
    opening audited; then the month, by an address without the token."""
    state = request.app.state
    value, _ = sessions.issue(
        state.settings.secret_key.get_secret_value(),
        sessions.Session("coordinator", signed.who.name, binding=coordinator_binding(signed.token)),
    )
    audit.append(state.engine, None, WorkspaceOpened("coordinator", signed.who.name, ""))
    response = RedirectResponse("/w/c/", status_code=303)
    made = sessions.cookie(request, sessions.COORDINATOR_COOKIE, sessions.COORDINATOR_PAGES)
    sessions.set_cookie(response, made, value)
    return response


@router.get("")
def bare(me: Coordinator) -> Response:
    """``/w/c`` typed without its slash: the month page, by a path of this server only (the
    app redirects no slashes: the framework's redirect took its host from the request)."""
    return RedirectResponse("/w/c/", status_code=308)


@router.get("/")
def this_month(request: Request, me: Coordinator, period: str = "") -> Response:
    """The month's plans and rounds (``?period=YYYY-MM``; this month without it)."""
    if period and not PERIOD.fullmatch(period):
        raise PageRefused(400, "月份（period）：应为 YYYY-MM 形式的月份，例如 2026-12。")
    state = request.app.state
    shown, plans, notices = overview.month(state.engine, state.settings, period)
    if period and int(period[:4]) not in YEARS and not plans:  # 0000-01: no round can be in
        said = f"{period} 不在 {YEARS[0]} 年至 {YEARS[-1]} 年之间，也没有这个月的抽查计划或轮次。"
        raise PageRefused(400, f"月份（period）：{said}")
    started = said_key(request, "started")
    asked = pending_assistance(state.engine)  # a partner's request waits for our answer
    return render("month.html", period=shown, plans=plans, notices=notices, me=me.name,
                  quote=quote, started=started, csrf=me.csrf, asked=asked)  # fmt: skip


def pending_assistance(engine: sa.Engine) -> int:
    """How many partners' assistance requests wait for our answer (the 执法协查 page)."""
    from exchange.models import AssistanceCase

    with DbSession(engine) as db:
        return int(db.exec(select(func.count()).select_from(AssistanceCase).where(
            col(AssistanceCase.direction) == "incoming",
            col(AssistanceCase.status) == "pending")).one())  # fmt: skip


def said_key(request: Request, name: str) -> str:
    """A round key a form's redirect put in the address (``?started=KEY``), to be said in a
    banner; anything else, nothing. The banner shows what the address says, so a link made
    elsewhere (``?started=系统升级，请访问…``) must not put its own words on the bureau's page."""
    value = request.query_params.get(name, "")
    return value if is_key(value) else ""


def said_count(request: Request, name: str) -> str:
    """A count a form's redirect put in the address (``?requeued=3``); anything else, nothing
    (for the reason :func:`said_key` gives)."""
    value = request.query_params.get(name, "")
    return value if value.isascii() and value.isdigit() and len(value) <= 9 else ""


def no_round(round_key: str) -> PageRefused:
    """The 404 page of a round that does not exist: its key cut to the longest a key can be
    (``shuangsui.keys``, 64), and back to the month, not to the same address."""
    return PageRefused(404, f"没有轮次 {cut(round_key, 64)}。", back="/w/c/")


def known_round(engine: sa.Engine, round_key: str) -> Round:
    """The round, or a 404 page: a form posted for a round that does not exist does nothing."""
    with DbSession(engine) as db:
        rnd = db.get(Round, round_key)
    if rnd is None:
        raise no_round(round_key)
    return rnd


def round_path(round_key: str) -> str:
    return f"/w/c/rounds/{quote(round_key, safe='')}"


def enterprise_path(round_key: str, credit_code: str) -> str:
    return f"{round_path(round_key)}/e/{quote(credit_code, safe='')}"


@router.get("/rounds/{round_key}")
def round_page(round_key: str, request: Request, me: Coordinator) -> Response:
    """The round's progress; its enterprises all, or those of one filter of
    ``overview.FILTERS`` (``?show=todo``: a link, so it works without JavaScript), or those
    whose name, credit code or inspector holds what was sought (``?q=``), a page at a time
    (``?page=2``)."""
    state = request.app.state
    view = overview.round_view(state.engine, state.settings, round_key)
    if view is None:
        raise no_round(round_key)
    show = request.query_params.get("show", "")
    show = show if show in overview.FILTERS else ""
    sought = overview.sought(request.query_params.get("q", ""))
    found = overview.found(view.rows, sought)
    asked = request.query_params.get("page", "")
    page = overview.enterprise_page(overview.kept(found, show), asked)
    changed = replacements.changes(state.engine, round_key, state.settings.timezone)
    from workspace import adhoc  # it imports this module

    refused = adhoc.refused_ceremonies(state.engine, round_key, state.settings.timezone)
    hold = adhoc.ceremony_hold(state.engine, round_key, state.settings.timezone)
    return render(
        "round.html",
        view=view,
        me=me.name,
        base=round_path(round_key),
        csrf=me.csrf,
        requeued=said_count(request, "requeued"),
        ceremony=request.query_params.get("ceremony", ""),
        refused_ceremonies=refused,
        hold=hold,
        hold_minutes=adhoc.HOLD_MINUTES,
        refresh=adhoc.REFRESH_SECONDS,
        imported=_imported(request),
        show=show,
        filters=overview.FILTERS,
        sought=sought,
        sought_max=overview.SOUGHT_MAX,
        counts=overview.counts(found),
        found=len(found),
        page=page,
        queue_max=overview.ROUND_PAGE,  # the 待签字 and 逾期 queues: a page's worth, as the list
        link=listing_link,
        enterprise_path=enterprise_path,
        replaced=len(changed),
        replaced_at=replacements.by_enterprise(changed),
    )


def listing_link(base: str, **params: str | int) -> str:
    """``base`` with those of ``params`` that have a value, as a link of the page gives it
    (a filter, a search and a page number kept together)."""
    given = {name: value for name, value in params.items() if value}
    return f"{base}?{urlencode(given)}" if given else base


def _imported(request: Request) -> dict[str, int] | None:
    """What the findings import just did (``workspace.imports``'s redirect), if it said so."""
    said = {k: said_count(request, k) for k in ("imported", "recorded", "unfilled")}
    if not all(said.values()):
        return None
    return {"new": int(said["imported"]), "recorded": int(said["recorded"]),
            "unfilled": int(said["unfilled"])}  # fmt: skip


def _assignment(request: Request, round_key: str, credit_code: str) -> assignment.AssignmentView:
    """An enterprise's assignment in a round as the coordinator reads it, or a 404 page."""
    state = request.app.state
    _known_team(state.engine, round_key, credit_code)
    return assignment.load(state.engine, round_key, credit_code, "", state.settings.timezone)


def _known_team(engine: sa.Engine, round_key: str, credit_code: str) -> None:
    """The round has a team for the enterprise, or a 404 page."""
    known_round(engine, round_key)
    with DbSession(engine) as db:
        team = db.exec(
            select(Assignment.inspector_id).where(
                Assignment.round_key == round_key, Assignment.credit_code == credit_code
            )
        ).first()
    if team is None:  # named as asked, cut to a credit code's length and a little more
        said = f"轮次 {round_key} 没有企业 {cut(credit_code, 24)} 的检查任务。"
        raise PageRefused(404, said, back=round_path(round_key))


@router.get("/rounds/{round_key}/e/{credit_code}")
def enterprise_page(
    round_key: str, credit_code: str, request: Request, me: Coordinator
) -> Response:
    """One enterprise of a round: its team and deadline, a form to give the check a new date
    (``workspace.redates``), each member's form to withdraw them (``workspace.replacements``)
    and the team's replacements, and every version of its finding (the evidence, who signed
    and who has yet to), newest first. A correction is the inspectors' (or the findings
    import's), not this page's."""
    cautions = replacements.cautions_said(request.query_params.get("caution", ""))
    replaced = said_count(request, "replaced")
    state = request.app.state
    n = said_count(request, "redated")
    redated = redates.just_done(state.engine, round_key, credit_code, n, state.settings.timezone)
    return _enterprise(
        request,
        round_key,
        credit_code,
        me,
        replaced=replaced,
        cautions=cautions,
        still_on=replacements.still_on(state.engine, round_key, replaced),
        due_soon=replacements.due_soon(state.engine, round_key, credit_code, replaced),
        redated=redated,
        relinked=relinks.just_done(
            state.engine, round_key, credit_code, request.query_params, state.settings.timezone
        ),
    )


def _enterprise(
    request: Request,
    round_key: str,
    credit_code: str,
    me: Visitor,
    status: int = 200,
    **context: object,
) -> Response:
    """The enterprise page; ``context``: a replacement just recorded (``replaced``, and what
    the registry holds against the replacement: ``cautions``; the other teams a member withdrawn
    from the whole round still sits on: ``still_on``; its date kept and near: ``due_soon``),
    or one refused (``refused``: why, and ``sent``: the form as it was); a new date just
    recorded (``redated``), or one refused (``redate_refused``, and ``redate_sent``)."""
    view = _assignment(request, round_key, credit_code)
    refs = [e for v in view.versions for e in v.evidence]
    state = request.app.state
    zone = state.settings.timezone
    return render(
        "enterprise.html",
        status,
        view=view,
        me=me.name,
        back=f"{round_path(round_key)}#e-{quote(credit_code, safe='')}",
        action=enterprise_path(round_key, credit_code),
        enterprise_path=enterprise_path,  # the other teams a withdrawn member still sits on
        evidence_of=attachments.lookup(state.engine, refs),
        csrf=me.csrf,
        why_not=replacements.why_not(state.engine, view),
        causes=replacements.cause_choices(),
        note_max=replacements.NOTE_MAX,
        changes=replacements.changes(state.engine, round_key, zone, credit_code),
        why_not_redate=redates.why_not(state.engine, view),
        why_not_relink=relinks.why_not(state.engine, view),
        link_generations=relinks.generations_of(state.engine, round_key, credit_code),
        redates=redates.changes(state.engine, round_key, credit_code, zone),
        **(EMPTY | context),
    )


# what the enterprise page says when no form was just sent
EMPTY: dict[str, object] = {
    "sent": {}, "refused": "", "replaced": "", "cautions": [], "still_on": [],
    "due_soon": None, "redated": None, "redate_sent": {}, "redate_refused": "",
    "relinked": None, "relink_sent": {}, "relink_refused": "",
}  # fmt: skip


@router.post("/rounds/{round_key}/e/{credit_code}/replace")
async def withdraw_member(
    round_key: str, credit_code: str, request: Request, me: Coordinator
) -> Response:
    """Withdraw a member of the enterprise's team (the seat goes to the inspector the round's
    seed picks); back to the page, which shows the new team, or says why it was refused with
    the form as it was sent (409: the round's or the team's state; 422: the form)."""
    async with request.form() as form:  # closed here: a file sent in a field's place
        await check_csrf(request, me)
        sent = replacements.asked(form)
    engine = request.app.state.engine
    await run_in_threadpool(_known_team, engine, round_key, credit_code)
    allowed = still_current(request, me)  # the token revoked since the check: the same page
    try:
        done = await run_in_threadpool(
            replacements.record, engine, round_key, credit_code, sent, me.name, allowed
        )
    except UserError as exc:
        who = await run_in_threadpool(_name_of, engine, sent["inspector_id"])
        status, why = replacements.said(exc, who)
        return await run_in_threadpool(
            _enterprise, request, round_key, credit_code, me, status, refused=why, sent=sent
        )
    n, caution = done.replacement.withdrawal.n, ".".join(done.cautions)
    said = f"&caution={caution}" if caution else ""
    return RedirectResponse(
        f"{enterprise_path(round_key, credit_code)}?replaced={n}{said}", status_code=303
    )


@router.post("/rounds/{round_key}/e/{credit_code}/redate")
async def redate(round_key: str, credit_code: str, request: Request, me: Coordinator) -> Response:
    """Give the team's check a new date (every member's; no one withdrawn); back to the page,
    which shows it, or says why it was refused with the form as it was sent (409: the round's
    or the finding's state; 422: the form)."""
    async with request.form() as form:  # closed here: a file sent in a field's place
        await check_csrf(request, me)
        sent = redates.asked(form)
    engine = request.app.state.engine
    await run_in_threadpool(_known_team, engine, round_key, credit_code)
    allowed = still_current(request, me)  # the token revoked since the check: the same page
    try:
        done = await run_in_threadpool(
            redates.record, engine, round_key, credit_code, sent, me.name, allowed
        )
    except UserError as exc:
        status, why = redates.said(exc)
        return await run_in_threadpool(
            _enterprise, request, round_key, credit_code, me, status,
            redate_refused=why, redate_sent=sent,
        )  # fmt: skip
    return RedirectResponse(
        f"{enterprise_path(round_key, credit_code)}?redated={done.n}#redate", status_code=303
    )


@router.post("/rounds/{round_key}/e/{credit_code}/relink")
async def relink_member(
    round_key: str, credit_code: str, request: Request, me: Coordinator
) -> Response:
    """Send a member of the enterprise's team their link again, under the current secret key
    (``workspace.relinks``); back to the page, which says it was queued, or why not (409: the
    round's, the check's or the member's state; 422: the form), with the form as it was sent."""
    async with request.form() as form:  # closed here: a file sent in a field's place
        await check_csrf(request, me)
        sent = relinks.asked(form)
    state = request.app.state
    await run_in_threadpool(_known_team, state.engine, round_key, credit_code)
    allowed = still_current(request, me)  # the token revoked since the check: the same page
    try:
        done = await run_in_threadpool(relinks.record, state.engine, state.settings, round_key,
                                       credit_code, sent, me.name, allowed)  # fmt: skip
    except UserError as exc:
        who = await run_in_threadpool(_name_of, state.engine, sent["inspector_id"])
        status, why = relinks.said(exc, who)
        return await run_in_threadpool(_enterprise, request, round_key, credit_code, me, status,
                                       relink_refused=why, relink_sent=sent)  # fmt: skip
    before = "&before=1" if done.already and not done.queued else ""
    # the box ticked and nothing ended: the link the form showed has not left, or was ended
    # before the form came
    ended = "1" if done.ended else "unsent" if done.unsent else "earlier"
    before += f"&ended={ended}" if sent["end_old"] else ""
    before += "&replaced=1" if done.replaced else ""  # an earlier run's message, not yet sent
    return RedirectResponse(
        f"{enterprise_path(round_key, credit_code)}?relinked={quote(sent['inspector_id'])}"
        f"{before}#relink",
        status_code=303,
    )


def _name_of(engine: sa.Engine, inspector_id: str) -> str:
    """An inspector's name, as a refusal names them (the id as sent, cut, if unknown; 所选人员
    when none was sent: a file in the field's place is read as empty)."""
    if not inspector_id.strip() or not inspector_id.isprintable():  # never looked up
        return "所选人员"
    with DbSession(engine) as db:
        found = db.get(Inspector, inspector_id[:64])
    return found.name if found else cut(inspector_id, 64)


@router.get("/rounds/{round_key}/e/{credit_code}/evidence/{sha256}")
def evidence_file(
    round_key: str, credit_code: str, sha256: str, request: Request, me: Coordinator
) -> Response:
    """A file of one of the enterprise's versions (an inspector's draft is theirs alone),
    uploaded for this assignment (``findings.evidence.servable``)."""
    view = _assignment(request, round_key, credit_code)
    named = {e["sha256"] for v in view.versions for e in v.evidence}
    state = request.app.state
    named = evidence.servable(state.engine, round_key, credit_code, sha256, named)
    return attachments.served(state.engine, state.settings.home, sha256, named)


@router.post("/rounds/{round_key}/retry-dead")
async def retry_dead_letters(round_key: str, request: Request, me: Coordinator) -> Response:
    """Re-queue the round's dead letters (each re-routed to the recipient's current address)."""
    await check_csrf(request, me)
    engine = request.app.state.engine
    await run_in_threadpool(known_round, engine, round_key)
    allowed = still_current(request, me)  # the token revoked since the check: the same page
    count = await run_in_threadpool(_requeue, engine, round_key, me.name, allowed)
    return RedirectResponse(f"{round_path(round_key)}?requeued={count}", status_code=303)


def _requeue(
    engine: sa.Engine, round_key: str, by: str, allowed: Callable[[DbSession], None]
) -> int:
    def work(db: DbSession) -> int:
        count = retry_dead(session=db, round_key=round_key)
        audit.add_to(db, round_key, DeadLettersRequeued(count, by))
        return count

    return writes.write(engine, work, what=f"the dead letters of {round_key}", allowed=allowed)


@router.get("/rounds/{round_key}/{what}.{fmt}")
def export(round_key: str, what: str, fmt: str, request: Request, me: Coordinator) -> Response:
    if what not in EXPORTS or fmt not in MEDIA:
        raise PageRefused(404, f"没有这种导出：{cut(f'{what}.{fmt}', 64)}", back="/w/c/")
    state = request.app.state
    if overview.round_view(state.engine, state.settings, round_key) is None:
        raise no_round(round_key)
    title, header, rows_of = EXPORTS[what]
    rows = rows_of(state.engine, round_key)
    data = exports.as_xlsx(header, rows) if fmt == "xlsx" else exports.as_csv(header, rows)
    if sent_method(request) != "HEAD":  # a HEAD (a link checker's) downloads nothing
        audit.append(state.engine, round_key, ExportDownloaded(what, fmt, me.name))
    name = disposition("attachment", f"{round_key}-{title}.{fmt}")
    return Response(data, media_type=MEDIA[fmt], headers={"Content-Disposition": name})


PARTNER_STATUS = {
    "never": "从未同步",
    "ok": "正常",
    "failed": "同步失败",
    "refused": "条目被拒（其后条目均无法采用）",  # an entry of its signed log, for good
    "rewritten": "历史被改写",
    "quorum": "见证未达法定数",
    "equivocated": "双重检查点（分叉）",
    "error": "同步出错（本局系统故障）",  # not the partner's fault: a bug, our own database
}


@router.get("/partners")
def partners(request: Request, me: Coordinator) -> Response:
    """Each partner bureau's last sync, checkpoint size and any fault; who witnessed our
    checkpoint; every equivocation proof we hold, with the two signed checkpoints."""
    from exchange.directory import read_directory
    from exchange.kinds import described_zh
    from exchange.models import PartnerState
    from exchange.settings import origin_of
    from exchange.standing import standing

    settings = request.app.state.settings
    zone, now = settings.timezone, dt.datetime.now(dt.UTC)
    with DbSession(request.app.state.engine) as db:
        states = {s.partner_code: s for s in db.exec(select(PartnerState)).all()}
    stand = standing(request.app.state.engine, origin_of(settings.bureau_code))
    directory = read_directory()
    rows = []
    for code, p in sorted(directory.partners.items()):
        st = states.get(code)
        rows.append(
            {
                "code": code,
                "name": p.name,
                "status": PARTNER_STATUS.get(st.status, st.status) if st else "从未同步",
                "size": st.size if st else 0,
                "last_ok": local_label(st.last_success_at, zone)
                if st and st.last_success_at
                else "—",
                "fault": (st.last_error or "") if st and st.status != "ok" else "",
                "refused": bool(st and st.status == "refused"),
                "tried": local_label(st.last_attempt_at, zone)  # when the fault was met
                if st and st.last_attempt_at
                else "",
                "flagged": bool(st and st.flagged),
                "rewritten": bool(st and st.flagged and not stand.equivocations_of(p.origin)),
                "witnessed": stand.witnessed.get(p.origin, 0),
                "equivocated": bool(stand.equivocations_of(p.origin)),
                "unread": stand.unread.get(code, {}),  # entries of kinds we do not know
                "kinds": described_zh(st.about if st else None, zone, now),  # the kinds it reads
            }
        )
    from joint.evidence import all_evidence

    joint = all_evidence(request.app.state.engine)  # withheld reveals etc., with the evidence
    return render("partners.html", rows=rows, me=me.name, stand=stand,
                  quorum=directory.witness_quorum, joint=joint, csrf=me.csrf)  # fmt: skip
