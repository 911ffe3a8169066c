"""联合抽查 for the coordinator: every joint round this bureau takes part in (``/w/c/joint``),
and one round (``/w/c/joint/{key}``) with what this bureau must do next and the command for it,
the teams once drawn, the fixed rule's reason once failed, the note once withdrawn; and, while
the round can still be withdrawn here, the withdrawal as ``joint withdraw`` makes it.

Before these pages a coordinator followed joint rounds with ``shuangsui joint status`` only.
What the pages read is ``joint.overview``'s; what they say is in Chinese, every partner's text
(a directory name) escaped and on one line, its invisible characters shown as U+FFFD."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from exchange.directory import DirectoryError, read_directory
from exchange.settings import exchange_settings
from joint.abandon import withdraw_round
from joint.overview import JointView, joint_round, joint_rounds
from joint.store import now_utc
from shuangsui.clock import local_label
from shuangsui.errors import NotFound, UserError
from shuangsui.keys import is_key
from shuangsui.text import CONTROL, NOTE_MAX, one_line
from workspace.coordinator import Coordinator
from workspace.formvalues import text
from workspace.guards import PageRefused, Visitor, check_csrf
from workspace.leadforms import sent_once
from workspace.pages import render

router = APIRouter(prefix="/w/c", include_in_schema=False)
BASE = "/w/c/joint"
# the status as this bureau records it (joint_round.status; a round exists here once we commit)
STATUS = {
    "committed": "已承诺，待揭示",
    "revealed": "本局已揭示，待抽取",
    "drawn": "已抽取",
    "failed": "失败",
    "withdrawn": "本局已撤回",
}
# §13.3's reasons, each naming the bureaus
REASONS = {
    "withheld": "{} 未在揭示截止前揭示随机数（规则 withheld-fails：本轮作废，"
    "不以其他机关的随机数重抽）",
    "equivocation": "{} 签署了两份不同的承诺",
    "missing-commitment": "{} 未在承诺截止前提交承诺",
    "infeasible": "{} 的检查人员不足以组成检查组",
}
LABELS = {"note": "撤回理由"}
NOT_OURS = "本局没有参加这一联合抽查"
NOTE_REFUSALS = (
    (re.compile(r"^--note: say why"), "撤回理由：必填，请写明撤回的原因（记入本局审计日志）"),
    (re.compile(r"^--note: (\d+) characters, at most (\d+)"), "撤回理由：共 {0} 字，最多 {1} 字"),
    (re.compile(r"^--note: contains the (?:invisible|control) character (U\+[0-9A-F]+)"),
     "撤回理由：含有不可见或控制字符 {0}，请删去后重新填写"),
    (re.compile(r"^--by: "), "协调员名称含有不可见或控制字符，无法记录"),
)  # fmt: skip


def shown(value: str) -> str:
    """A partner's text as the page shows it: one line, invisible and control characters as
    U+FFFD (a right-to-left override in a name turned the text after it around)."""
    return CONTROL.sub("\ufffd", one_line(value))


def time_left(deadline: dt.datetime, now: dt.datetime) -> str:
    """剩余 N 天 (or, within a day, 小时, then 分钟) / 已过期."""
    left = deadline - now
    if left <= dt.timedelta(0):
        return "已过期"
    if left >= dt.timedelta(days=1):
        return f"剩余 {left.days} 天"
    if left >= dt.timedelta(hours=1):
        return f"剩余 {left.seconds // 3600} 小时"
    return f"剩余 {max(1, -(-left.seconds // 60))} 分钟"


def _names(request: Request) -> dict[str, str]:
    """Bureau codes as the page names them: ours 本局, a partner's by its name in the
    directory of the bureau this app serves (as the partner exchange reads it)."""
    settings = request.app.state.settings
    me = settings.bureau_code
    try:
        partners = read_directory(exchange_settings().for_home(settings.home)[0]).partners
    except DirectoryError:  # the partners page names a directory that cannot be read
        partners = {}
    names = {code: f"{shown(p.name)}（{code}）" for code, p in partners.items()}
    return names | {me: f"本局（{me}）"}


def failure_said(failure: dict[str, Any], names: dict[str, str]) -> str:
    who = "、".join(names.get(b, b) for b in failure.get("bureaus", []))
    reason = str(failure.get("reason", ""))
    return REASONS.get(reason, "{} 未按规则完成（" + reason + "）").format(who)


def _waiting(v: JointView, names: dict[str, str]) -> str:
    """What an undecided round waits for, as the rule decides it now."""
    d = v.decision
    if d is None:
        return ""
    who = "、".join(names.get(b, b) for b in d.bureaus)
    if d.state == "waiting-commitments":
        return f"等待承诺：{who}"
    if d.state == "waiting-reveals":
        return f"等待揭示：{who}"
    if d.state == "failed":
        return "截止时间已过，本轮已按规则失败（尚未记录）：" + failure_said(d.failure(), names)
    return "承诺与揭示均已收到，可以抽取"


def next_step(v: JointView, me: str, names: dict[str, str], zone: str) -> tuple[str, str]:
    """What this bureau does next, and the command for it ("" when none)."""
    key, d = v.key, v.decision
    draw = f"shuangsui joint draw {key}"
    if v.status in ("committed", "revealed") and d is not None:
        who = "、".join(names.get(b, b) for b in d.bureaus)
        if d.state == "failed":
            return "截止时间已过，本轮已按规则失败。请记录这一失败（它是对违约机关的证据）：", draw
        if d.state == "waiting-commitments":
            until = local_label(v.commit_deadline, zone)
            said = f"等待 {who} 的承诺（承诺截止 {until}）。"
            said += "本局暂无需操作；如对方已承诺而此处未收到，可拉取："
            return said, f"shuangsui joint pull {key}"
        until = local_label(v.reveal_deadline, zone)
        if v.status == "committed":
            said = f"所有机关的承诺均已收到。请在揭示截止（{until}）前揭示本局随机数："
            return said, f"shuangsui joint reveal {key}"
        if d.state == "waiting-reveals":
            return f"本局已揭示。等待 {who} 揭示（揭示截止 {until}）；全部揭示后抽取：", draw
        return "所有承诺与揭示均已收到，请抽取：", draw
    if v.status == "drawn":
        said = "已抽取，本局检查人员已收到检查任务通知。"
        if v.lead == me:
            said += "各机关的检查结果报送本局后，公开结果："
            return said, f"shuangsui joint publish {key}"
        said += "检查后向牵头机关报送本局的检查结果："
        return said, f"shuangsui joint finding {key} 统一社会信用代码 结论 检查日期"
    if v.status == "failed":
        said = "本轮已失败，不再重抽。如需重新抽查：新建联合抽查计划，使用新的编号并写明 "
        said += f"replaces: {key}，各机关重新提交承诺："
        return said, "shuangsui joint commit 新计划.yaml"
    said = "本局已撤回，无需操作。协作机关未被告知（联合抽查协议第 1 版没有撤回声明）："
    said += "请自行通知它们；它们将在截止时间后按规则判定本轮失败。"
    return said, ""


def _row(v: JointView, me: str, names: dict[str, str], now: dt.datetime, zone: str) -> dict:
    undecided = v.status in ("committed", "revealed")
    return {
        "key": v.key,
        "path": f"{BASE}/{v.key}",
        "lead": names.get(v.lead, v.lead),
        "status": STATUS.get(v.status, v.status),
        "waiting": _waiting(v, names),
        "commit_deadline": local_label(v.commit_deadline, zone),
        "reveal_deadline": local_label(v.reveal_deadline, zone),
        "commit_left": time_left(v.commit_deadline, now) if undecided else "",
        "reveal_left": time_left(v.reveal_deadline, now) if undecided else "",
        "parties": [
            {
                "name": names.get(p.bureau, p.bureau),
                "lead": p.bureau == v.lead,
                "inspectors": p.inspectors,
                "commitments": p.commitments,
                "revealed": p.revealed,
                "bad_reveals": p.bad_reveals,
            }
            for p in v.parties
        ],  # fmt: skip
        "replaces": v.replaces,
    }


@router.get("/joint")
def listing(request: Request, me: Coordinator) -> Response:
    settings = request.app.state.settings
    code, zone, now = settings.bureau_code, settings.timezone, now_utc()
    names = _names(request)
    views = joint_rounds(request.app.state.engine, now)
    rows = [_row(v, code, names, now, zone) for v in views]
    return render("joint.html", me=me.name, csrf=me.csrf, rounds=rows)


def _known(request: Request, key: str, now: dt.datetime) -> JointView:
    settings = request.app.state.settings
    if not is_key(key):
        raise PageRefused(404, NOT_OURS + "（地址中的编号不是联合抽查的编号）。", back=BASE)
    try:
        return joint_round(request.app.state.engine, settings.bureau_code, key, now)
    except NotFound:
        raise PageRefused(404, NOT_OURS + "（本局未对它提交承诺）。", back=BASE) from None


@router.get("/joint/{key}")
def one(key: str, request: Request, me: Coordinator) -> Response:
    return _page(request, me, key, done=request.query_params.get("done", ""))


def _page(
    request: Request, me: Visitor, key: str, *, done: str = "", refused: str = "", typed: str = ""
) -> Response:
    """A round's page; refusing a withdrawal's note (422), it says why above the form and gives
    back the note as typed (cut at twice its bound: a form sent by a script may carry more), as
    the class page and the leads' forms do: a note pasted with a zero-width space was lost."""
    settings = request.app.state.settings
    code, zone, now = settings.bureau_code, settings.timezone, now_utc()
    v = _known(request, key, now)
    names = _names(request)
    said, command = next_step(v, code, names, zone)
    failure = v.outcome.get("failure") if v.status == "failed" else None
    withdrawn = v.outcome.get("withdrawn", {}) if v.status == "withdrawn" else {}
    teams = [
        {"credit_code": t.credit_code, "enterprise": t.enterprise,
         "kind": "定向" if t.kind == "targeted" else "随机",
         "members": [f"{shown(m.name)}（{m.inspector_id}）" if m.name
                     else f"{names.get(m.bureau, m.bureau)} {shown(m.inspector_id)}"
                     for m in t.members]}
        for t in v.teams
    ]  # fmt: skip
    said_done = {"withdrawn": "已撤回：本局随机数已删除，永不揭示；撤回已记入审计日志。"}
    return render(
        "joint_round.html", 422 if refused else 200, me=me.name, csrf=me.csrf,
        r=_row(v, code, names, now, zone),
        next_said=said, command=command, teams=teams, seed=v.outcome.get("seed", ""),
        failure=failure_said(failure, names) if failure else "",
        failure_message=shown(str(failure.get("message", ""))) if failure else "",
        withdrawn_at=shown(str(withdrawn.get("at", ""))),
        note=shown(v.withdrawal.get("note", "")),
        recorded_by=shown(v.withdrawal.get("recorded_by", "")),
        can_withdraw=v.status == "committed" and v.decision is not None
        and v.decision.state != "failed",
        done=said_done.get(done, ""), refused=refused, typed=typed[: 2 * NOTE_MAX],
    )  # fmt: skip


@router.get("/joint/{key}/withdraw")
def withdraw_form(key: str, me: Coordinator) -> Response:
    """The form's own address (where a refused form's 继续 goes): its place on the page."""
    return RedirectResponse(f"{BASE}/{key}#withdraw" if is_key(key) else BASE, status_code=303)


@router.post("/joint/{key}/withdraw")
async def withdraw(key: str, request: Request, me: Coordinator) -> Response:
    """撤回, as ``shuangsui joint withdraw KEY --note`` (``joint.abandon.withdraw_round``): our
    nonce erased, the round recorded withdrawn here, ``JointRoundWithdrawn`` audited with who
    and why. The partners are not told (protocol version 1 has no statement for it)."""
    back = f"{BASE}/{key}" if is_key(key) else BASE
    async with request.form() as form:
        await check_csrf(request, me)
        await run_in_threadpool(_known, request, key, now_utc())
        if problems := sent_once(form, ("note",), LABELS):
            raise PageRefused(422, "；".join(problems) + "。", back=back)
        note = text(form, "note")
    engine, code = request.app.state.engine, request.app.state.settings.bureau_code
    try:
        await run_in_threadpool(functools.partial(
            withdraw_round, engine, code, key, note=note, recorded_by=me.name))  # fmt: skip
    except UserError as exc:
        status, said_ = _refusal(str(exc), key)
        if status == 422:  # the note's: the page again, the note as typed
            return await run_in_threadpool(
                functools.partial(_page, request, me, key, refused=said_, typed=note)
            )
        raise PageRefused(status, said_, back=back) from None
    return RedirectResponse(f"{back}?done=withdrawn", status_code=303)


def _refusal(message: str, key: str) -> tuple[int, str]:
    """The service's refusal, in Chinese: the note's (422, naming the field) or the round's
    (409: revealed, decided or failed by the rule meanwhile; nothing recorded)."""
    for pattern, words in NOTE_REFUSALS:
        if m := pattern.match(message):
            return 422, words.format(*m.groups()) + "。未作任何更改。"
    return 409, (
        f"联合抽查 {key} 不能撤回：本局随机数已揭示、本轮已判定，或截止时间已过、已按规则失败"
        "（请用 shuangsui joint draw 记录）。未作任何更改。"
    )
