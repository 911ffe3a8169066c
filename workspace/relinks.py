"""A member of a team sent their link again (检查链接重新发送), from the coordinator's
enterprise page; the service is ``notifications.relink`` (``shuangsui notifications relink``).

One form per member: why, nothing else. The link is the one the current secret key makes:
after a rotation it is new (the message says the old one no longer opens), otherwise it is the
same link (the message says the earlier one still opens). A refusal is said in Chinese with
the form kept as it was sent; a member whose link would be refused anyway (revoked, marked
inactive, past its expiry) is sent nothing, and the page says so.

A box, 作废原链接并重新发送, ends the member's link sent before as well
(``notifications.generations``): a lost phone, a notice forwarded. The form carries the
generation the page showed, so the same form sent twice, or two coordinators' at once, end
one generation; a link no message has carried out yet is not ended (nobody but the member
can hold it), and the page says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.link_refusals import link_refusals
from notifications import generations
from notifications.models import Notification, NotificationKind
from notifications.relink import Refused, Relinked, relink
from rounds.models import AuditEvent, Round, RoundStatus
from rounds.replacements import NOTE_MAX
from shuangsui import writes
from shuangsui.clock import local_label
from shuangsui.config import Settings, get_settings
from shuangsui.errors import UserError
from workspace.assignment import AssignmentView
from workspace.formvalues import first_twice, text
from workspace.replacements import SentTwice, refuse_twice, twice_said

FIELDS = ("inspector_id", "reason", "end_old", "generation")
LABELS = {"inspector_id": "检查人员", "reason": "原因", "end_old": "作废原链接",
          "generation": "链接版本"}  # fmt: skip


class LeftOut(UserError):
    """The member's link would be refused all the same: nothing was sent."""


class NotShown(UserError):
    """作废原链接 ticked with a generation the page cannot have shown (blank, a sign, "²"):
    which link the coordinator saw is not known, so nothing is ended."""


RUNS_READ = 50  # the round's last relinks read for the banner's 取代 (others' come between)
GENERATION = re.compile(r"[0-9]{1,12}")  # not str.isdigit, to which "²" and "٣" are digits


def just_done(
    engine: sa.Engine, round_key: str, credit_code: str, said: Mapping[str, str], zone: str
) -> dict[str, str] | None:
    """A link just sent again, for the page's banner, as the redirect says it (``?relinked=ID``,
    ``&before=1``, ``&ended=1``, ``unsent`` or ``earlier``) and only as far as the database
    agrees: a 检查链接重新发送 queued to that member for this check, and for an ended link the
    member's link to this check ended (who ended it and when, from its row). An ending that
    ended nothing because no message has carried the member's current link out
    (``unsent``: ``notifications.generations.left``; their first link, or the one an earlier
    ending made, by whom and when) is said so while that link has still not left; one whose
    form showed a generation ended before (``earlier``), only when an ending was made. An
    address made elsewhere (``?relinked=ID&ended=1`` for a link never ended) says nothing it
    cannot show."""
    who = said.get("relinked", "")[:64]
    if not who:
        return None
    secret = get_settings().secret_key.get_secret_value()
    with Session(engine) as db:
        queued = db.exec(select(Notification.payload).where(
            col(Notification.round_key) == round_key, col(Notification.recipient) == who,
            col(Notification.kind) == NotificationKind.link_reissued)).all()  # fmt: skip
        if not any(p.get("credit_code") == credit_code for p in queued):
            return None
        latest = generations.latest_ending(db, round_key, credit_code, who)
        now_at = latest.generation if latest else 0
        ended = said.get("ended", "")
        if ended == "unsent" and generations.current_left(
            db, round_key, credit_code, who, now_at, secret
        ):
            ended = ""  # it has left since: no longer what the banner would say
        replaced = bool(said.get("replaced")) and _replaced(db, round_key, credit_code, who)
    if latest is None and ended != "unsent":  # never ended: nothing ended to say
        ended = ""
    return {"id": who, "before": said.get("before", ""), "ended": ended,
            "replaced": "1" if replaced else "",
            "ended_by": latest.ended_by if latest else "",
            "ended_at": local_label(latest.ended_at, zone) if latest else ""}  # fmt: skip


def _replaced(db: Session, round_key: str, credit_code: str, who: str) -> bool:
    """Whether the last relink of the member's link to this check (its ``LinksReissued``)
    withdrew a 检查链接重新发送 an earlier run queued that had not left, its own taking the
    place (``notifications.relink._withdraw_waiting``)."""
    e = AuditEvent.__table__.c  # type: ignore[attr-defined]
    runs = db.execute(sa.select(e.payload).where(e.round_key == round_key,
                                                 e.event == "LinksReissued")
                      .order_by(e.seq.desc()).limit(RUNS_READ)).scalars()  # fmt: skip
    for payload in runs:
        run = json.loads(payload)
        if (run.get("inspector"), run.get("credit_code")) == (who, credit_code):
            return bool(run.get("replaced"))
    return False


def why_not(engine: sa.Engine, view: AssignmentView) -> str:
    """Why the page offers no link to send again ("" when it does): a round not drawn, a
    final finding (the service would refuse every one)."""
    with Session(engine) as db:
        rnd = db.get(Round, view.round_key)
    if rnd is None or rnd.status is not RoundStatus.drawn:
        return "本轮次不在“已摇号”状态（已结束或未摇号），没有可重新发送的链接。"
    if any(v.final for v in view.versions):
        return "检查结果已定稿，检查已完成，无需重新发送链接。"
    return ""


def generations_of(engine: sa.Engine, round_key: str, credit_code: str) -> dict[str, int]:
    """Each member's current generation of their link to this check, by id (absent: 0)."""
    with Session(engine) as db:
        current = generations.current(db, round_key, credit_code)
    return {member: n for (_, member), n in current.items()}


def asked(form: Any) -> dict[str, str]:
    """What the form sent, as strings (a file in a field's place: empty), the reason cut at
    twice what the service takes; under ``twice`` a field sent more than once."""
    sent = {name: text(form, name) for name in FIELDS}
    sent["inspector_id"] = sent["inspector_id"][:64]
    sent["reason"] = sent["reason"][: 2 * NOTE_MAX]
    sent["generation"] = sent["generation"][:12]
    sent["twice"] = first_twice(form, FIELDS)
    return sent


def record(
    engine: sa.Engine,
    settings: Settings,
    round_key: str,
    credit_code: str,
    sent: dict[str, str],
    by: str,
    allowed: Callable[[Session], None],
) -> Relinked:
    """The member's link to this check queued again by ``by``; :class:`LeftOut` when their
    link would be refused anyway (the attempt is in the audit log all the same)."""
    refuse_twice(sent)
    refusals = link_refusals(settings)
    end_old = bool(sent["end_old"])
    if end_old and not GENERATION.fullmatch(sent["generation"]):
        raise NotShown(sent["generation"])
    seen = int(sent["generation"]) if end_old else 0

    def work(session: Session) -> Relinked:
        return relink(session, round_key=round_key, inspector_id=sent["inspector_id"],
                      credit_code=credit_code, by=by, reason=sent["reason"],
                      refusals=refusals, end_old=end_old,
                      seen_generation=seen if end_old else None)  # fmt: skip

    done = writes.write(engine, work, what=f"the links of {round_key}/{credit_code}",
                        allowed=allowed)  # fmt: skip
    if done.left_out:
        raise LeftOut(done.left_out[0][2])
    return done


# each refusal of the service (``notifications.relink.Refused``, by kind) as the page says it
SAID = {
    "by": "协调员名称为空，系统不能记录，请联系管理员",
    "reason": "原因：必填，请写明重新发送链接的原因（记入审计日志）",
    "reason-long": f"原因：过长，最多 {NOTE_MAX} 个字",
    "reason-unprintable": "原因：含有不可见字符（多为从其他软件粘贴带入），请删去后重新填写",
    "no-round": "没有这个轮次",
    "not-drawn": "本轮次不在“已摇号”状态（已结束或未摇号），没有可重新发送的链接",
    "no-inspector": "{who} 不在执法人员名录中",
    "not-on-team": "{who} 不在这家企业的检查组中（可能已被更换）",
    "all-final": "检查结果已定稿，检查已完成，无需重新发送链接",
    "end-old": "作废原链接：只能针对这家企业检查组中的一名人员",
    "inspector-unprintable": "表单中的执法人员编号有误，请刷新页面后重试",
    "stale-key": "本服务使用的密钥已被更换（密钥轮换），它生成的链接无法打开，未发送任何链接；"
    "请管理员以新密钥重启本服务",
}
NOT_SHOWN = ("链接版本：不是本页表单给出的值，无法确定您看到的是哪一个链接，"
             "未作废也未发送任何链接。请重新打开企业页面后再提交。")  # fmt: skip
LEFT_OUT = ("未发送：{who} 的链接已被撤销、本人在名录中已停用或链接已过期，重新发送的链接同样"
            "无法打开")  # fmt: skip


def said(exc: UserError, who: str) -> tuple[int, str]:
    """A refusal as the page answers it: the status and why, in Chinese. ``who``: the member
    the form named, by name."""
    if isinstance(exc, SentTwice):
        return twice_said(exc, LABELS)
    if isinstance(exc, LeftOut):
        return 409, LEFT_OUT.format(who=who) + "。"
    if isinstance(exc, NotShown | generations.Unseen):  # not a generation the page showed
        return 422, NOT_SHOWN
    kind = exc.kind if isinstance(exc, Refused) else ""
    status = 422 if kind in ("reason", "reason-long", "reason-unprintable",
                             "inspector-unprintable") else 409  # fmt: skip
    return status, SAID.get(kind, "系统未接受这次发送，请联系管理员").format(who=who) + "。"
