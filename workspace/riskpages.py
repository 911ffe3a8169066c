"""The coordinator's risk classes (信用风险分类): an enterprise's class in force and why, in
Chinese. A shell over ``risk.explain`` (what ``shuangsui risk explain`` and ``GET /risk/{code}``
give), said by ``risk.words``; ``/w/c/risk`` finds an enterprise by its credit code. An override
is requested and approved here as with ``shuangsui risk override`` and ``risk approve``, through
``risk.overrides`` (every rule, and the audit, theirs: two coordinators)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from registry import uscc
from risk import overrides, words
from risk.explain import explain
from shuangsui.errors import Conflict, NotFound, UserError
from shuangsui.text import REASON_MAX, half_width
from workspace.forms import in_chinese
from workspace.formvalues import text
from workspace.guards import PageRefused, Visitor, check_csrf, coordinator_session
from workspace.leadforms import said, sent_once
from workspace.pages import render

router = APIRouter(prefix="/w/c", include_in_schema=False)
Coordinator = Annotated[Visitor, Depends(coordinator_session)]
BASE = "/w/c/risk"
CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")  # the shape of a credit code (GB 32100)
NOT_FOUND = "名录库中没有统一社会信用代码为 {0} 的企业。"
LABELS = {"risk_class": "调整为", "reason": "理由", "override": "批准调整"}
# what an override's step did, said on the page it returns to (?done=)
DONE = {
    "requested": "已申请调整：须由另一名协调员批准后才生效。",
    "approved": "已批准：调整即时生效，此后提交的抽查轮次按调整后的类别抽取。",
}
# risk.overrides' refusals (English, for the CLI), as the page says them; first match wins
CHECKS = [
    (r"^class: must be one of", "调整为：请从 A、B、C、D 中选择"),
    (r"^reason: an override needs a reason", "理由：必填（随类别显示，并记入审计日志）"),
    (r"^reason: at most (\d+) characters, not (\d+)", "理由：过长，最多 {0} 个字（现为 {1} 个字）"),
    (r"^reason: contains the control character (U\+[0-9A-F]{4})",
     "理由：含有不可见的控制字符（{0}，多为粘贴带入），请删去后重新填写"),
    (r"^reason: contains the invisible character (U\+[0-9A-F]{4})",
     "理由：含有不可见字符（{0}，多为粘贴带入），请删去后重新填写"),
    (r"^by: (.+) requested override (\d+); a second coordinator",
     "批准调整：调整 {1} 由 {0} 申请，须由另一名协调员批准"),
    (r"^by: '(.+)' is not a coordinator with a live token",
     "{0} 的协调员令牌已停用，不能申请或批准调整"),
]  # fmt: skip


def risk_path(credit_code: str) -> str:
    return f"{BASE}/{credit_code}"


def _refusal(typed: str) -> str:
    """Why ``typed`` (upper case, stripped) is no credit code (named by its label, in Chinese,
    as the leads' form says it), or an empty string."""
    problem = uscc.problem(typed, uscc.load_whitelist())
    return said("credit_code", problem) if problem else ""


@router.get("/risk")
def lookup(request: Request, me: Coordinator) -> Response:
    """A credit code typed (``?code=``): its enterprise's page; else the form, with what is
    wrong with the code, or that the registry does not hold it."""
    typed = half_width(request.query_params.get("code", "")).strip().upper()[:40]
    refused = _refusal(typed) if typed else ""
    if typed and not refused:
        try:
            explain(request.app.state.engine, typed)
        except NotFound:
            refused = NOT_FOUND.format(typed)
        else:
            return RedirectResponse(risk_path(typed), status_code=303)
    return render("risk_lookup.html", 422 if refused else 200, me=me.name, csrf=me.csrf,
                  base=BASE, typed=typed, refused=refused)  # fmt: skip


@router.get("/risk/{credit_code}")
def class_page(credit_code: str, request: Request, me: Coordinator) -> Response:
    """The class in force and where it comes from (the classification, an override or the
    registry); the points behind it line by line, the bounds of the classes, every override
    with who asked, who approved and why, and the enterprise's classes over time."""
    code = credit_code.strip().upper()
    if not CODE.fullmatch(code):
        raise PageRefused(404, "地址中的统一社会信用代码有误：应为 18 位数字或大写字母。", BASE)
    try:
        doc = explain(request.app.state.engine, code)
    except NotFound:
        raise PageRefused(404, NOT_FOUND.format(code), BASE) from None
    return _page(request, me, doc, done=DONE.get(request.query_params.get("done", ""), ""))


def _page(
    request: Request, me: Visitor, doc: dict[str, Any], *, done: str = "", refused: str = "",
    sent: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """The class page of ``doc``; refusing an override asked for (422), it says why above its
    form and gives back what was typed (the class chosen, the reason, cut at twice its bound:
    a form sent by a script may carry more), as the leads' forms do."""
    zone = request.app.state.settings.timezone
    view: dict[str, Any] = {"doc": doc, "class_said": words.class_said(doc["class"]),
                            "source_said": words.SOURCES[doc["source"]]}  # fmt: skip
    c = doc["classification"]
    if c is not None:
        view |= {
            "lines": words.lines(c),
            "bounds_said": words.bounds_said(c["bounds"]),
            "by_score": words.by_score(c["score"], c["bounds"]),
            "computed_at": words.when(c["computed_at"], zone),
        }
    overrides = [
        o | {"class_said": words.class_said(o["class"]),
             "requested": words.when(o["requested_at"], zone),
             "approved": words.when(o["approved_at"], zone)}
        for o in doc["overrides"]
    ]  # fmt: skip
    typed = {name: value[: 2 * REASON_MAX] for name, value in (sent or {}).items()}
    return render("risk.html", 422 if refused else 200, me=me.name, csrf=me.csrf, base=BASE,
                  view=view, overrides=overrides, class_said=words.class_said, labels=LABELS,
                  classes=words.CLASS_WORDS, done=done, refused=refused, sent=typed)  # fmt: skip


def _refused(message: str) -> str:
    """A refusal of ``risk.overrides`` as the page says it (``CHECKS``); one none knows still
    says what the page was asked to do."""
    said_ = in_chinese(message, CHECKS)
    return said_ if said_ != message else "未能记录调整，请核对后重新填写。"


async def _form(
    request: Request, me: Visitor, credit_code: str, names: tuple[str, ...]
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The enterprise a form is for (its code, its explanation) and the fields ``names``
    (stripped), once the CSRF token is checked; a field sent twice or as a file is a 422
    naming it (``leadforms.sent_once``), nothing recorded."""
    async with request.form() as form:
        await check_csrf(request, me)
        code = credit_code.strip().upper()
        if not CODE.fullmatch(code):
            raise PageRefused(404, "地址中的统一社会信用代码有误：应为 18 位数字或大写字母。", BASE)
        try:
            doc = await run_in_threadpool(explain, request.app.state.engine, code)
        except NotFound:
            raise PageRefused(404, NOT_FOUND.format(code), BASE) from None
        if problems := sent_once(form, names, LABELS):
            raise PageRefused(422, "；".join(problems) + "。", back=risk_path(code))
        return code, doc, {name: text(form, name).strip() for name in names}


@router.post("/risk/{credit_code}")
async def ask(credit_code: str, request: Request, me: Coordinator) -> Response:
    """申请调整, posted to the class page itself (``risk.overrides.request``, as ``risk
    override``): pending until another coordinator approves it. The same request sent again
    while it waits (a double click) is the one recorded, not a second."""
    code, doc, sent = await _form(request, me, credit_code, ("risk_class", "reason"))
    back = f"{risk_path(code)}?done=requested#overrides"
    asked = (sent["risk_class"].upper(), sent["reason"], me.name)
    if any((o["class"], o["reason"], o["requested_by"]) == asked and o["status"] == "pending"
           for o in doc["overrides"]):  # fmt: skip
        return RedirectResponse(back, status_code=303)
    try:
        await run_in_threadpool(overrides.request, request.app.state.engine, credit_code=code,
                                risk_class=sent["risk_class"], reason=sent["reason"],
                                by=me.name)  # fmt: skip
    except UserError as exc:
        return await run_in_threadpool(_page, request, me, doc, refused=_refused(str(exc)),
                                       sent=sent)  # fmt: skip
    return RedirectResponse(back, status_code=303)


@router.post("/risk/{credit_code}/accept")
async def approve(credit_code: str, request: Request, me: Coordinator) -> Response:
    """批准 a pending override of this enterprise (``risk.overrides.approve``, as ``risk
    approve``), by a coordinator other than the one who asked; in force from now. Its address
    ends in ``accept``, a form's action (``workspace.guards.FORM_ACTIONS``): a refusal's 继续
    opens the class page."""
    code, doc, sent = await _form(request, me, credit_code, ("override",))
    mine = {str(o["id"]): o for o in doc["overrides"]}
    if sent["override"] not in mine:
        raise PageRefused(422, f"{LABELS['override']}：本企业没有这项调整", back=risk_path(code))
    try:
        await run_in_threadpool(overrides.approve, request.app.state.engine,
                                int(sent["override"]), by=me.name)  # fmt: skip
    except Conflict:
        row = mine[sent["override"]]
        now = await run_in_threadpool(explain, request.app.state.engine, code)
        by = next((o["approved_by"] for o in now["overrides"] if o["id"] == row["id"]), "")
        said_ = f"调整 {row['id']} 已经批准过（{by}），每项调整只批准一次。"
        raise PageRefused(409, said_, back=risk_path(code)) from None
    except UserError as exc:
        raise PageRefused(422, _refused(str(exc)), back=risk_path(code)) from None
    return RedirectResponse(f"{risk_path(code)}?done=approved#overrides", status_code=303)
