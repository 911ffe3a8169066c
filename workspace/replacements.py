"""A team member replaced after the draw, as the coordinator's pages show it
(docs/draw-algorithm.md §14; the service is ``rounds.replacements``).

The enterprise page offers, for each member of a drawn team, a form to withdraw them: a
cause, a reason and, if need be, a new due date for the team's check (needed when the seat's
own is gone), and nothing else, since the seat goes to the inspector the round's seed
picks. Below it, the enterprise's replacements; the round page counts the round's. The
service's refusals (English, one line, for the CLI and the API) are read as the API reads them
(``api.replacements.refused``) and said here in Chinese. A form the page never sends (a field
twice, a date not typed year-month-day) is refused here, before the service, in the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from api.replacements import refused
from draw.replace import CAUSES, ROUND_WIDE
from registry.models import Enterprise, Inspector
from rounds import replacements as service
from rounds.models import Assignment, Round, RoundStatus, TeamChange
from rounds.replacements import DueMoved, DueSoon, Refused, Replaced, replace_member
from rounds.team_changes import recorded_rows
from shuangsui.clock import ISO_DAY, local_label
from shuangsui.errors import UserError
from shuangsui.text import NOTE_MAX  # noqa: F401  (the forms' maxlength: workspace.coordinator)
from workspace.assignment import AssignmentView
from workspace.forms import text_refused
from workspace.formvalues import first_twice, text

# the causes as the form's radio buttons name them; what each means is draw.replace.CAUSES'
CAUSE_LABELS = {"conflict": "回避", "unavailable": "不能到场", "left": "调离"}
# what the form sends, and its CSRF token; ``shown_due_on`` hidden: the date the page showed
FIELDS = ("inspector_id", "cause", "note", "due_on", "shown_due_on")


@dataclass(frozen=True)
class ChangeRow:
    """One replacement as the pages list it, people by name."""

    n: int
    credit_code: str
    enterprise: str
    position: int
    withdrawn: str
    replacement: str
    cause: str  # in Chinese: 回避 / 不能到场 / 调离
    note: str
    recorded_by: str
    recorded_at: str  # Beijing time
    due_on: str  # the new date it gave the team's check ("" when the seats kept theirs)


def changes(
    engine: sa.Engine, round_key: str, zone: str, credit_code: str | None = None
) -> list[ChangeRow]:
    """The round's replacements (one enterprise's, with ``credit_code``) in order of ``n``."""
    with Session(engine) as db:
        rows = recorded_rows(db, round_key, credit_code)
        people = {r.withdrawn for r in rows} | {r.replacement for r in rows}
        names = {i: name for i, name in db.execute(
            sa.select(col(Inspector.inspector_id), col(Inspector.name))
            .where(col(Inspector.inspector_id).in_(people))
        )}  # fmt: skip
        codes = {r.credit_code for r in rows}
        firms = {code: name for code, name in db.execute(
            sa.select(col(Enterprise.credit_code), col(Enterprise.name))
            .where(col(Enterprise.credit_code).in_(codes))
        )}  # fmt: skip
    return [
        ChangeRow(
            r.n,
            r.credit_code,
            firms.get(r.credit_code, r.credit_code),
            r.position,
            names.get(r.withdrawn, r.withdrawn),
            names.get(r.replacement, r.replacement),
            CAUSE_LABELS.get(r.cause, r.cause),
            r.note,
            r.recorded_by,
            local_label(r.recorded_at, zone),
            r.due_on.isoformat() if r.due_on else "",
        )  # fmt: skip
        for r in rows
    ]


def still_on(engine: sa.Engine, round_key: str, n: str) -> list[tuple[str, str]]:
    """For the replacement ``n`` just recorded, when its cause keeps the member off the whole
    round (不能到场, 调离): the other enterprises whose teams still hold them, as (credit code,
    name), for the page to link to. §14 withdraws from one team at a time, and the same cause
    most likely holds for each of the member's teams."""
    if not n:
        return []
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    with Session(engine) as db:
        row = db.get(TeamChange, (round_key, int(n)))
        if row is None or row.cause not in ROUND_WIDE:
            return []
        held = db.execute(
            sa.select(a.credit_code, col(Enterprise.name))
            .outerjoin(Enterprise, col(Enterprise.credit_code) == a.credit_code)
            .where(a.round_key == round_key, a.inspector_id == row.withdrawn)
            .order_by(a.credit_code)
        )
        return [(code, name or code) for code, name in held]


def due_soon(engine: sa.Engine, round_key: str, credit_code: str, n: str) -> DueSoon | None:
    """For the replacement ``n`` just recorded, when it kept the seat's date and that date is
    near (``rounds.replacements.due_soon``, today as the service counts it): the working days
    left and a date to suggest, for the page to offer a new one; None otherwise."""
    if not n:
        return None
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    with Session(engine) as db:
        row = db.get(TeamChange, (round_key, int(n)))
        if row is None or row.credit_code != credit_code or row.due_on is not None:
            return None
        due = db.execute(
            sa.select(sa.func.min(a.due_on)).where(
                a.round_key == round_key, a.credit_code == credit_code
            )
        ).scalar()
    return None if due is None else service.due_soon(due, service.bureau_today())


def by_enterprise(rows: list[ChangeRow]) -> list[tuple[str, str, int]]:
    """The enterprises whose teams changed (credit code, name, how many times), by code."""
    counted: dict[str, tuple[str, int]] = {}
    for r in rows:
        counted[r.credit_code] = (r.enterprise, counted.get(r.credit_code, ("", 0))[1] + 1)
    return [(code, name, n) for code, (name, n) in sorted(counted.items())]


def why_not(engine: sa.Engine, view: AssignmentView) -> str:
    """Why the page offers no replacement for this enterprise ("" when it does): the service
    would refuse every one (``rounds.replacements``: a round not drawn, a final finding)."""
    with Session(engine) as db:
        rnd = db.get(Round, view.round_key)
    if rnd is None or rnd.status is not RoundStatus.drawn:
        return "本轮次不在“已摇号”状态（已结束或未摇号），检查组不能再更换。"
    if any(v.final for v in view.versions):
        return "检查结果已定稿，检查组不能再更换；结果如有误，以更正处理。"
    return ""


def asked(form: Any) -> dict[str, str]:
    """What the form sent (:func:`form_strings`); ``shown_due_on`` stripped and cut as
    ``due_on`` is."""
    sent = form_strings(form, FIELDS, text_field="note")
    sent["shown_due_on"] = sent["shown_due_on"].strip()[:32]
    return sent


def form_strings(form: Any, fields: tuple[str, ...], *, text_field: str) -> dict[str, str]:
    """What a coordinator's form sent, as strings (a file in a field's place: empty), kept for
    the page that says why it was refused: ``text_field`` (the free text the audit log keeps)
    whole, so that the service's refusal counts all of it (the page shows it again cut at
    twice what the service takes), ``due_on`` stripped and cut at 32 characters; and under
    ``twice`` the first of ``fields`` sent more than once ("" when none was: a page's form
    sends each once, and which of two values was meant is not the server's to guess)."""
    out = {name: text(form, name) for name in fields}
    out["due_on"] = out["due_on"].strip()[:32]
    out["twice"] = first_twice(form, fields)
    return out


class SentTwice(UserError):
    """A form with a field sent more than once: refused before the service sees it."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: sent more than once")
        self.field = field


def refuse_twice(sent: dict[str, str]) -> None:
    """:class:`SentTwice` for a form :func:`form_strings` found a field twice in."""
    if sent["twice"]:
        raise SentTwice(sent["twice"])


def twice_said(exc: SentTwice, labels: dict[str, str]) -> tuple[int, str]:
    """A field sent twice as the page says it, by the field's label on the form."""
    label = labels.get(exc.field, "表单")
    return 422, f"{label}：表单中填写了不止一次，请重新打开本页面后再填写提交。"


def record(
    engine: sa.Engine,
    round_key: str,
    credit_code: str,
    sent: dict[str, str],
    by: str,
    allowed: Callable[[Session], None],
) -> Replaced:
    """The replacement the form asks for, recorded by ``by`` (``rounds.replacements``); with a
    new date, only if the check is still due on the date the page showed (a colleague's 延期
    meanwhile is not overridden unseen)."""
    refuse_twice(sent)
    due_on = form_date(sent["due_on"]) if sent["due_on"] else None  # empty: the seat's date
    return replace_member(
        engine, round_key, credit_code, sent["inspector_id"],
        cause=sent["cause"], note=sent["note"], recorded_by=by, due_on=due_on,
        allowed=allowed, expected_due_on=shown_date(sent["shown_due_on"]),
    )  # fmt: skip


class ShownUnreadable(UserError):
    """The hidden ``shown_due_on`` not a day: not as our page wrote it."""

    def __init__(self) -> None:
        super().__init__("shown_due_on: not a date (YYYY-MM-DD)")


def shown_date(value: str) -> date | None:
    """The date the page showed, as its hidden field says it (None: none sent)."""
    if not value:
        return None
    try:
        if not ISO_DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ShownUnreadable() from None


def shown_said(exc: ShownUnreadable | DueMoved, not_done: str) -> tuple[int, str]:
    """A form refused for the date it showed, in Chinese: not as the page wrote it (422), or
    no longer the check's date (409: :func:`moved_said`; ``not_done``: what was not done)."""
    if isinstance(exc, ShownUnreadable):
        return 422, "表单中的现在的完成期限有误（不是本页面写入的），请重新打开本页面后再填写提交。"
    return 409, moved_said(exc, not_done)


def moved_said(exc: DueMoved, not_done: str) -> str:
    """A change refused because the date changed since the page was shown, in Chinese: the
    date in force and who set it, and ``not_done`` (本次调整未作更改 ...)."""
    shown, now = exc.expected.isoformat(), exc.due_on.isoformat()
    if exc.set_by is None:
        by = f"是 {now}（本轮次检查期限的最后一天，摇号时确定）"
    else:
        by = f"已由协调员 {exc.set_by} 改为 {now}"
    return (
        f"完成期限在您打开本页面后有了变动：本页面当时显示 {shown}，现在的完成期限{by}。"
        f"{not_done}；请核对现在的完成期限，如仍需调整，请再次提交。"
    )


def form_date(value: str) -> date:
    """A form's date field: a browser sends YYYY-MM-DD (one without a date picker, what was
    typed). Only that: Python also reads ``20270129`` and ``2027-W05-1`` (a week's Monday) as
    days, which a person typing them may not have meant."""
    try:
        if not ISO_DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise Refused("due-unreadable", f"due_on: {value!r} is not a date") from None


# each refusal of the service (``api.replacements.REFUSALS``, by kind) as the page says it;
# ``{who}``: the member the form named, by name; ``{text}``: the refused text's fault
SAID = {
    "cause": "更换原因：请选择 回避、不能到场 或 调离",
    "note-missing": "理由：必填，请写明该成员退出检查组的原因（记入审计日志）",
    # the service's words for a text (``rounds.service.check_texts``) as every reason's field
    # says them (``workspace.forms.text_refused``): 过长，最多 500 个字（现为 N 个字）...
    "note-long": "理由：{text}",
    "note-unprintable": "理由：{text}",
    "inspector-unprintable": "表单中的执法人员编号有误，请刷新页面后重试",
    "recorded-by-unprintable": "协调员名称中含有不可见字符，系统不能记录，请联系管理员",
    "no-round": "没有这个轮次",
    "not-drawn": "本轮次不在“已摇号”状态（已结束或未摇号），检查组不能再更换",
    "no-team": "本轮次没有这家企业的检查任务",
    "not-on-team": "{who} 已不在该企业的检查组中（可能刚刚已被更换，见下方更换记录），未作更改",
    "final": "检查结果已定稿，检查组不能再更换",
    "no-one-left": "没有可以接替的执法人员：符合条件的执法人员都已在检查组中、已退出或不符合"
                   "本轮的规则。{who} 仍在检查组中，未作更改",
    "due-past": "新的完成期限：不能早于今天",
    "due-far": "新的完成期限：不能晚于一年以后",
    "due-gone": "该席位原定的完成期限已过，接替人员一接手即逾期：请填写新的完成期限（今天或以后）。"
                "{who} 仍在检查组中，未作更改",
    "due-unreadable": "新的完成期限：请按 年-月-日 填写日期，如 2027-01-15",
    "raced": "同时有其他更换在记录，未作更改，请重新提交",
    "other": "系统未接受这次更换（详情已记入服务器日志），请联系管理员",
}  # fmt: skip


# the form's fields by their labels, for a field sent twice
LABELS = {"inspector_id": "执法人员", "cause": "更换原因", "note": "理由", "due_on": "新的完成期限",
          "shown_due_on": "现在的完成期限"}  # fmt: skip


def said(exc: UserError, who: str) -> tuple[int, str]:
    """A refusal of the service as the page answers it: the status (the API's) and why, in
    Chinese. ``who``: the member the form named, by name."""
    if isinstance(exc, SentTwice):
        return twice_said(exc, LABELS)
    if isinstance(exc, ShownUnreadable | DueMoved):
        return shown_said(exc, f"本次更换未作更改，{who} 仍在检查组中")
    r = refused(exc)
    return r.status, SAID[r.kind].format(who=who, text=text_refused(str(exc))) + "。"


# what the registry holds now against a replacement (``rounds.replacements.CAUTIONS``: the pick
# is made on the frame as committed), as the page says it after the member's name
CAUTION_SAID = {
    "inactive": "在执法人员名录中现已停用",
    "leave": "按名录现有记录，在本轮检查期间休假",
    "conflict": "在名录中登记有与该企业的利害关系",
}


def cautions_said(value: str) -> list[str]:
    """The cautions a redirect put in the address (``?caution=leave.conflict``), in Chinese:
    known ones only, so a link made elsewhere puts no words of its own on the page."""
    return [CAUTION_SAID[c] for c in value.split(".") if c in CAUTION_SAID]


def cause_choices() -> list[tuple[str, str, str]]:
    """The form's radio buttons: the cause, its label and what it means."""
    return [
        (cause, CAUSE_LABELS[cause], meaning.removeprefix(f"{CAUSE_LABELS[cause]}："))
        for cause, meaning in CAUSES.items()
    ]
