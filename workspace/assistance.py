"""执法协查 (assistance between bureaus) for the coordinator: the requests partners sent us,
to accept (the team drawn by the draw's own rules, ``exchange.assistance``) or decline with a
reason, and the requests we sent, with their answers and results.

The answer goes into our signed log, which every partner keeps for good: it is given once, by
the first coordinator who gives it (two at once: the log takes the first appended, and the
second is told which stands), and audited with who gave it. Before this page a coordinator
answered only with ``shuangsui partners assist accept|decline``."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select
from starlette.concurrency import run_in_threadpool

from exchange import assistance
from exchange.directory import read_directory
from exchange.models import AssistanceCase, PartnerEntry
from exchange.unopened import unopened
from registry.models import CheckItem, Enterprise, Inspector, certificate_kind_label
from shuangsui.clock import local_label
from shuangsui.config import get_settings
from shuangsui.errors import NotFound, UserError
from shuangsui.text import REASON_MAX
from workspace.coordinator import Coordinator
from workspace.forms import too_long
from workspace.formvalues import text
from workspace.guards import PageRefused, check_csrf, still_current
from workspace.leadforms import sent_once
from workspace.pages import render

router = APIRouter(prefix="/w/c", include_in_schema=False)
BASE = "/w/c/assistance"
SHOWN = 100  # answered cases and our own requests: the latest this many of each
STATUS = {"pending": "待答复", "accepted": "已接受", "declined": "不予协查", "completed": "已办结"}
LABELS = {"reason": "理由"}
REQUESTER = re.compile(r"[0-9]{6}")  # a bureau's division code
REQUEST_ID = re.compile(r"[0-9]{6}-[0-9a-f]{10}")  # exchange.assistance.request_assistance's
# the service's refusals of a reason (exchange.publish.shared_text), as the page says them
REASONS = (
    (re.compile(r"^reason: say why"),
     "理由：不予协查须写明理由（将签名发给所有协作机关，不可撤回）"),
    (re.compile(r"^reason: contains the (?:invisible|control) character (U\+[0-9A-F]+)"),
     "理由：含有不可见或控制字符 {0}，请删去后重新填写"),
)  # fmt: skip


@dataclass
class Case:
    """One request as the page shows it."""

    requester: str
    request_id: str
    partner: str  # the other bureau: who asked us, or whom we asked
    credit_code: str
    enterprise: str
    check_item: str
    reason: str
    status: str
    status_label: str
    updated: str
    window: str = ""
    cert_kinds: str = ""
    division: str = ""
    team: list[str] = field(default_factory=list)
    answer_reason: str = ""
    result: str = ""


def path(case: Case) -> str:
    return f"{BASE}/{case.requester}/{case.request_id}"


def _names(session: Session, model: Any, key: Any, keys: set[str]) -> dict[str, str]:
    if not keys:
        return {}
    rows = session.exec(select(key, model.name).where(key.in_(sorted(keys)))).all()
    return {k: n for k, n in rows}


def cases(engine: Engine, zone: str) -> dict[str, Any]:
    """The page's lists: incoming requests to answer, incoming answered, ours (latest first),
    and how many of each there are."""
    partners = {code: p.name for code, p in read_directory().partners.items()}
    with Session(engine) as session:
        pending = session.exec(
            select(AssistanceCase)
            .where(col(AssistanceCase.direction) == "incoming",
                   col(AssistanceCase.status) == "pending")
            .order_by(col(AssistanceCase.updated_at))
        ).all()  # fmt: skip
        answered = session.exec(
            select(AssistanceCase)
            .where(col(AssistanceCase.direction) == "incoming",
                   col(AssistanceCase.status) != "pending")
            .order_by(col(AssistanceCase.updated_at).desc()).limit(SHOWN)
        ).all()  # fmt: skip
        ours = session.exec(
            select(AssistanceCase)
            .where(col(AssistanceCase.direction) == "outgoing")
            .order_by(col(AssistanceCase.updated_at).desc()).limit(SHOWN)
        ).all()  # fmt: skip
        counts = dict(session.exec(
            select(AssistanceCase.direction, func.count()).group_by(AssistanceCase.direction)
        ).all())  # fmt: skip
        incoming = [*pending, *answered]
        bodies = {}
        for c in incoming:  # the entry that opened the case (an id may be repeated in a log)
            entry_id = f"assistance-request/{c.request_id}"
            q = select(PartnerEntry.body).where(col(PartnerEntry.partner_code) == c.requester,
                                                col(PartnerEntry.entry_id) == entry_id)  # fmt: skip
            if c.request_entry_hash:
                q = q.where(col(PartnerEntry.leaf_hash) == c.request_entry_hash)
            body = session.exec(q.order_by(col(PartnerEntry.seq))).first()
            if body is not None:
                bodies[c.requester, entry_id] = json.loads(body)["body"]
        everyone = [*incoming, *ours]
        firms = _names(session, Enterprise, col(Enterprise.credit_code),
                       {c.credit_code for c in everyone})  # fmt: skip
        items = _names(session, CheckItem, col(CheckItem.code), {c.check_item for c in everyone})
        team_ids = {i for c in everyone for i in (c.answer or {}).get("team", [])}
        people = _names(session, Inspector, col(Inspector.inspector_id), team_ids)
        no_case = unopened(session, get_settings().bureau_code)

    def shown(c: AssistanceCase, other: str) -> Case:
        answer, result = c.answer or {}, c.result or {}
        request = bodies.get((c.requester, f"assistance-request/{c.request_id}"), {})
        window = request.get("window") or {}
        return Case(
            requester=c.requester, request_id=c.request_id,
            partner=f"{partners.get(other, other)}（{other}）", credit_code=c.credit_code,
            enterprise=firms.get(c.credit_code, ""),
            check_item=f"{c.check_item} {items.get(c.check_item, '')}".strip(),
            reason=c.reason, status=c.status, status_label=STATUS.get(c.status, c.status),
            updated=local_label(c.updated_at, zone),
            window=f"{window.get('start', '')} 至 {window.get('end', '')}" if window else "",
            cert_kinds="、".join(map(certificate_kind_label, request.get("cert_kinds", []))),
            division=str(request.get("division", "")),
            team=[f"{people.get(i, i)}（{i}）" for i in answer.get("team", [])],
            answer_reason=str(answer.get("reason", "")),
            result=" ".join(str(result.get(k, "")) for k in ("inspected_on", "outcome")).strip(),
        )  # fmt: skip

    return {
        "pending": [shown(c, c.requester) for c in pending],
        "answered": [shown(c, c.requester) for c in answered],
        "ours": [shown(c, c.target) for c in ours],
        "answered_more": counts.get("incoming", 0) - len(pending) > len(answered),
        "ours_more": counts.get("outgoing", 0) > len(ours),
        # requests to us that opened no case: no answer can name them, so a person calls
        "unopened": [(f"{partners.get(u.partner, u.partner)}（{u.partner}）", u) for u in no_case],
        "shown": SHOWN,
    }


@router.get("/assistance")
def page(request: Request, me: Coordinator) -> Response:
    settings = request.app.state.settings
    lists = cases(request.app.state.engine, settings.timezone)
    done = {"accepted": "已接受，检查组已按抽查规则抽取。",
            "declined": "已答复不予协查。",
            "taken": "该请求已由其他协调员先行答复，以下为已签名发出的答复。"}  # fmt: skip
    said = done.get(request.query_params.get("done", ""), "")
    return render("assistance.html", request=request, me=me.name, csrf=me.csrf, done=said,
                  path=path, reason_max=REASON_MAX, **lists)  # fmt: skip


def _known(engine: Engine, requester: str, request_id: str) -> AssistanceCase:
    """The incoming request named by the address, or the page's 404."""
    with Session(engine) as session:
        case = None
        if REQUESTER.fullmatch(requester) and REQUEST_ID.fullmatch(request_id):
            case = session.get(AssistanceCase, (requester, request_id))
    if case is None or case.direction != "incoming":
        raise PageRefused(404, "没有这件协查请求。", back=BASE)
    return case


async def _answer(request: Request, me: Coordinator, requester: str, request_id: str,
                  accept: bool) -> Response:  # fmt: skip
    async with request.form() as form:
        await check_csrf(request, me)
        engine = request.app.state.engine
        await run_in_threadpool(_known, engine, requester, request_id)
        if problems := sent_once(form, ("reason",), LABELS):
            raise PageRefused(422, "；".join(problems) + "。", back=BASE)
        reason = text(form, "reason").strip()
    if len(reason) > REASON_MAX:
        said = f"{LABELS['reason']}：{too_long(reason)}"  # signed into our log, for good
        raise PageRefused(422, said, back=BASE)
    try:
        given = await run_in_threadpool(functools.partial(
            assistance.answer, engine, requester=requester, request_id=request_id, accept=accept,
            reason=reason, by=me.name, allowed=still_current(request, me),
        ))  # fmt: skip
    except UserError as exc:
        raise PageRefused(422, _said(str(exc)), back=BASE) from None
    except NotFound:
        raise PageRefused(404, "没有这件协查请求。", back=BASE) from None
    done = given.case.status if given.given else "taken"
    return RedirectResponse(f"{BASE}?done={done}#r-{request_id}", status_code=303)


def _said(message: str) -> str:
    for pattern, words in REASONS:
        if m := pattern.match(message):
            return words.format(*m.groups())
    return "理由：填写有误，请核对后重新填写"


@router.get("/assistance/{requester}/{request_id}")
def one(requester: str, request_id: str, request: Request, me: Coordinator) -> Response:
    """A request's own address (where a refused form's 继续 goes): its place on the page."""
    _known(request.app.state.engine, requester, request_id)
    return RedirectResponse(f"{BASE}#r-{request_id}", status_code=303)


@router.post("/assistance/{requester}/{request_id}/accept")
async def accept(requester: str, request_id: str, request: Request, me: Coordinator) -> Response:
    """接受: the team is drawn from our inspectors by the draw's rules, seeded as
    ``docs/exchange-protocol.md`` says, and shared in the answer."""
    return await _answer(request, me, requester, request_id, accept=True)


@router.post("/assistance/{requester}/{request_id}/decline")
async def decline(requester: str, request_id: str, request: Request, me: Coordinator) -> Response:
    """不予协查, with the reason (required; shared with every partner)."""
    return await _answer(request, me, requester, request_id, accept=False)
