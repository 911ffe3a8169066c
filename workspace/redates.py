"""A team's check given a new date with no one withdrawn (延期), as the coordinator's
enterprise page offers it (docs/draw-algorithm.md §14 "Due date"; the service is
``rounds.redates``).

A plain form: the new date and why, nothing else (every member's date moves, the team stays),
and, hidden, the date the page showed as the check's date now (``shown_due_on``): the service
moves the date only if it still is, so a coordinator whose colleague (or other tab) moved it
meanwhile is told the date in force and who set it, instead of overriding a date they never
saw; the same form sent again once it was recorded (a second press of 提交) is told it was
done, as the first. Below it, the enterprise's new dates so far. The service's refusals are
read as the API reads them (``api.replacements.refused``, which the replacements share) and
said here in Chinese, with the form kept as it was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from api.replacements import refused
from rounds.due_dates import recorded_rows
from rounds.models import DueChange, Round, RoundStatus
from rounds.redates import Redated, move_due_date
from rounds.replacements import DueMoved, team_of
from shuangsui.clock import local_label
from shuangsui.errors import UserError
from workspace.assignment import AssignmentView
from workspace.forms import text_refused
from workspace.replacements import (
    SentTwice,
    ShownUnreadable,
    form_date,
    form_strings,
    refuse_twice,
    shown_date,
    shown_said,
    twice_said,
)

# what the form sends, with its CSRF token; ``shown_due_on`` hidden: the date the page showed
FIELDS = ("due_on", "reason", "shown_due_on")


@dataclass(frozen=True)
class RedateRow:
    """One new date as the page lists it."""

    n: int
    old_due_on: str
    due_on: str
    reason: str
    recorded_by: str
    recorded_at: str  # Beijing time


def changes(engine: sa.Engine, round_key: str, credit_code: str, zone: str) -> list[RedateRow]:
    """The enterprise's new dates in the order recorded."""
    with Session(engine) as db:
        rows = recorded_rows(db, round_key, credit_code)
    return [_row(r, zone) for r in rows]


def just_done(
    engine: sa.Engine, round_key: str, credit_code: str, n: str, zone: str
) -> RedateRow | None:
    """The new date ``n`` (a redirect's ``?redated=N``) if it is this enterprise's, for the
    page's banner; None for anything else (a link made elsewhere says nothing)."""
    if not n:
        return None
    with Session(engine) as db:
        row = db.get(DueChange, (round_key, int(n)))
    return _row(row, zone) if row is not None and row.credit_code == credit_code else None


def _row(r: DueChange, zone: str) -> RedateRow:
    return RedateRow(r.n, r.old_due_on.isoformat(), r.due_on.isoformat(), r.reason, r.recorded_by,
                     local_label(r.recorded_at, zone))  # fmt: skip


def why_not(engine: sa.Engine, view: AssignmentView) -> str:
    """Why the page offers no new date for this check ("" when it does): the service would
    refuse every one (a round not drawn, a final finding)."""
    with Session(engine) as db:
        rnd = db.get(Round, view.round_key)
    if rnd is None or rnd.status is not RoundStatus.drawn:
        return "本轮次不在“已摇号”状态（已结束或未摇号），不能再调整完成期限。"
    if any(v.final for v in view.versions):
        return "检查结果已定稿，检查已完成，不能再调整完成期限。"
    return ""


def asked(form: Any) -> dict[str, str]:
    """What the form sent (``workspace.replacements.form_strings``); ``shown_due_on``
    stripped and cut as ``due_on`` is."""
    sent = form_strings(form, FIELDS, text_field="reason")
    sent["shown_due_on"] = sent["shown_due_on"].strip()[:32]
    return sent


def record(
    engine: sa.Engine,
    round_key: str,
    credit_code: str,
    sent: dict[str, str],
    by: str,
    allowed: Callable[[Session], None],
) -> Redated:
    """The new date the form asks for, recorded by ``by`` (``rounds.redates``) if the check
    is still due on the date the page showed (none shown, a page from before it sent one:
    whatever date it has); the same form again, once recorded, is the record it made."""
    refuse_twice(sent)
    shown, due_on = shown_date(sent["shown_due_on"]), form_date(sent["due_on"])
    try:
        return move_due_date(engine, round_key, credit_code, due_on=due_on,
                             reason=sent["reason"], recorded_by=by, allowed=allowed,
                             expected_due_on=shown)  # fmt: skip
    except DueMoved as moved:
        if shown is None or moved.due_on != due_on:
            raise
        if (again := _sent_before(engine, round_key, credit_code, shown, due_on, sent, by)) is None:
            raise
        return again


def _sent_before(
    engine: sa.Engine, round_key: str, credit_code: str, shown: date, due_on: date,
    sent: dict[str, str], by: str,
) -> Redated | None:  # fmt: skip
    """The 延期 this form asks for when it is the check's last one already, recorded by ``by``
    from the date the form showed to the date it asks, with its reason: the same form sent
    again (a second press of 提交, a page reloaded after its answer was lost), whose date is
    the one in force. Before, it was refused as if a colleague had moved the date meanwhile."""
    with Session(engine) as db:
        rows = recorded_rows(db, round_key, credit_code)
        last = rows[-1] if rows else None
        if last is None or (last.old_due_on, last.due_on, last.recorded_by) != (shown, due_on, by):
            return None
        if last.reason != sent["reason"].strip():
            return None
        team = tuple(team_of(db, round_key, credit_code))
    return Redated(last.n, credit_code, team, last.old_due_on, last.due_on, last.reason, by)


# each refusal the form can meet (``api.replacements.REFUSALS``, by kind) as the page says it
SAID = {
    "reason-missing": "原因：必填，请写明调整完成期限的原因（记入审计日志）",
    "reason-long": "原因：{text}",  # as workspace.replacements.SAID's note
    "reason-unprintable": "原因：{text}",
    "recorded-by-unprintable": "协调员名称中含有不可见字符，系统不能记录，请联系管理员",
    "no-round": "没有这个轮次",
    "not-drawn": "本轮次不在“已摇号”状态（已结束或未摇号），不能再调整完成期限",
    "no-team": "本轮次没有这家企业的检查任务",
    "final": "检查结果已定稿，检查已完成，不能再调整完成期限",
    "due-past": "新的完成期限：不能早于今天",
    "due-far": "新的完成期限：不能晚于一年以后",
    "due-same": "新的完成期限与现在的完成期限相同，未作更改",
    "due-unreadable": "新的完成期限：请按 年-月-日 填写日期，如 2027-01-15",
    "raced": "同时有其他更改在记录，未作更改，请重新提交",
}
OTHER = "系统未接受这次调整（详情已记入服务器日志），请联系管理员"
# the form's fields, for one sent twice
LABELS = {"due_on": "新的完成期限", "reason": "原因", "shown_due_on": "现在的完成期限"}


def said(exc: UserError) -> tuple[int, str]:
    """A refusal of the service as the page answers it: the status (the API's) and why, in
    Chinese."""
    if isinstance(exc, SentTwice):
        return twice_said(exc, LABELS)
    if isinstance(exc, ShownUnreadable | DueMoved):
        return shown_said(exc, "本次调整未作更改")
    r = refused(exc)
    return r.status, SAID.get(r.kind, OTHER).format(text=text_refused(str(exc))) + "。"
