"""An inspector's save or submit refused because their link no longer lets them write (a
coordinator ended it, 作废原链接并重新发送; revoked; expired): the page gives back what the post
carried, so the text typed since the last save is not lost.

Before, the refusal was the page a dead link shows, and everything typed in the form was gone.
Now the answer shows each field the post sent, escaped, in a read-only box the member can
select and copy into the page their new link opens, and nothing of it is kept: no draft, no
file, no row. Only the poster sees it: the post must carry a form token we gave this member on
this check, of this session or of an earlier one (a tab opened before the notice's link was
opened again), and every answer under ``/w`` is ``no-store``; nothing is read from the
address. Otherwise the answer is the plain refusal. For a link ended by a coordinator the page
says when and by whom, and whether the new link has been sent, as far as the database knows.

A member replaced on the team while they typed (``rounds.replacements``) is refused before the
form is read, and has no new link to paste into: their post is given back the same way, only
to them, with who replaced them, when, why (the cause, not the audited note), who took the
seat, and that the text goes to the bureau's coordinator, who can pass it on. So does the
text of a link expired (the round's findings deadline and the grace passed) or of a member
made inactive: no new link comes to paste it into.

Why the form token and not ``Origin`` or ``Referer`` for an earlier session's post. The rule
was: this session's token, or any token with an ``Origin`` or ``Referer`` (``workspace.origins``
refuses a foreign one). Both halves were weak: a tab whose browser sends neither header
(an old browser, a privacy setting, ``Referrer-Policy: no-referrer``) lost its text, and a
post from our own origin carrying any token at all, even a made-up one, was echoed. The
inspector's form token now names what it was given for (``workspace.guards.form_token``: the
session's nonce and an HMAC of the member, the round, the enterprise and that nonce), so a
token of an earlier session is checked as such: signed with our key, for the member of the
session cookie the post came with, on this check. It is in no page but the ones we served to
that member's sessions (``no-store``), a cookie of that member's must come with it
(``SameSite=Strict``; a post from another origin is refused before), so the post is that
member's own form: the echo can show a browser only what a page we served it let it type.
A write still takes this session's token alone (``workspace.guards.check_csrf``); an earlier
session's never writes, whatever its headers.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from api.inspector_tokens import Refusal
from draw.replace import CAUSES
from findings.categories import ACTION_LABELS, MEASURE_LABELS, RESULT_LABELS
from notifications.generations import latest_ending
from notifications.links import assignment_tokens, holds_link
from notifications.models import Notification, NotificationKind, NotificationStatus
from shuangsui.clock import local_label
from workspace.forms import CERT_PREFIX, TEXT_FIELDS
from workspace.guards import (
    MEMBER_REPLACED,
    Visitor,
    earlier_form_token,
    link_refused,
    page_path,
    withdrawal,
)
from workspace.pages import render

LABELS = {
    "result": "检查结果",
    "check_date": "检查日期",
    "description": "检查情况",
    "measure_kind": "措施",
    "measure_deadline": "改正期限",
    "measure_text": "措施说明",
    "internal_note": "内部备注（不公开）",
    "reason": "更正理由或说明",
}
# a chosen option's label by its value, as the form shows it
CODES: dict[str, dict[str, str]] = {
    "result": {str(k): v for k, v in RESULT_LABELS.items()},
    "measure_kind": {str(k): v for k, v in MEASURE_LABELS.items()},
}
ACTIONS = {str(k): v for k, v in ACTION_LABELS.items()}
# what to do with the text given back: a member still on the check pastes it into the page
# their new link opens; one withdrawn from the team gives it to the coordinator
COPY_TO_NEW = "请逐项选中复制，粘贴到新链接打开的页面后再保存或提交。"
COPY_TO_COORDINATOR = "请逐项选中复制，交给协调员。"
# refusals after which no link of the member's writes again, and none is sent: an expired
# link's result is corrected by the coordinator, an inactive member records nothing
NO_NEW_LINK = ("token-expired", "inspector-inactive")


@dataclass(frozen=True)
class Field:
    label: str
    value: str


def posted_fields(form: FormData) -> list[Field]:
    """The fields of the inspector's form the post carried with something in them, in the
    form's order, a chosen option by its label (as the form shows it, the value after it);
    a certificate's action by the certificate's key. Only the form's own fields: a post's
    other names are not shown."""
    out = []
    for name in TEXT_FIELDS:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            label = CODES.get(name, {}).get(value)
            out.append(Field(LABELS[name], f"{label}（{value}）" if label else value))
    for key, value in form.multi_items():
        if key.startswith(CERT_PREFIX) and isinstance(value, str) and value:
            action = ACTIONS.get(value, value)
            out.append(Field(f"证书处理：{key[len(CERT_PREFIX) :]}", action))
    return out


def files_posted(form: FormData) -> int:
    return sum(1 for _, v in form.multi_items() if isinstance(v, UploadFile) and v.filename)


def replaced_said(request: Request, me: Visitor) -> str:
    """When and by whom the member's link to this check was last ended, and whether the new
    link has left ("" when the database holds no ending)."""
    state = request.app.state
    rk, cc, member = me.session.round_key, me.session.credit_code, me.name
    with Session(state.engine) as db:
        ended = latest_ending(db, rk, cc, member)
        if ended is None:
            return ""
        n = Notification.__table__.c  # type: ignore[attr-defined]
        rows = db.execute(sa.select(n.status, n.sent_at, n.payload).where(
            n.round_key == rk, n.recipient == member,
            n.kind == NotificationKind.link_reissued.value)).all()  # fmt: skip
    zone = state.settings.timezone
    secret = state.settings.secret_key.get_secret_value()
    token = assignment_tokens(secret, rk)(cc, member, ended.generation)
    mine = [(s, at) for s, at, p in rows
            if holds_link(p, token)]  # fmt: skip
    at = local_label(ended.ended_at, zone)
    sent = [at for s, at in mine if str(s) == NotificationStatus.sent.value and at]
    if sent:
        new = f"新的链接已于 {local_label(min(sent), zone)} 发给本任务的检查人员"
    elif any(str(s) == NotificationStatus.dead.value for s, _ in mine):
        new = "新的链接未能发出"
    else:
        new = "新的链接正在发给本任务的检查人员，请稍候查收"
    bureau = state.settings.bureau_name
    return (f"此链接已被作废并更换：协调员 {ended.ended_by} 于 {at} 作废了此链接，{new}。"
            "如果您就是本任务的检查人员，请打开新链接，把下方的内容复制过去后再保存或提交；"
            f"否则请联系{bureau}的协调员。")  # fmt: skip


def withdrawn_said(request: Request, me: Visitor) -> str:
    """Who withdrew the member from this check's team, when, why (the cause as the round's
    bundles say it, not the note) and who took the seat, with whom to give the text to
    ("" when the database holds no withdrawal of theirs)."""
    row = withdrawal(request, me.session)
    if row is None:
        return ""
    settings = request.app.state.settings
    at = local_label(row.recorded_at, settings.timezone)
    cause = CAUSES.get(row.cause, row.cause)
    return (f"您已被更换出本任务的检查组：协调员 {row.recorded_by} 于 {at} 将您更换"
            f"（{cause}），由 {row.replacement} 接替。您已不能再在此保存或提交。"
            f"下方内容是您的检查记录，请复制后交给{settings.bureau_name}的协调员，"
            "由协调员转交接替的检查人员。")  # fmt: skip


def own_post(request: Request, me: Visitor, form: FormData) -> bool:
    """Whether the post is its poster's own, to be shown back to them: it carries the form
    token of this session, or of an earlier session of this member on this check (a tab
    opened before the notice's link was opened again, as :func:`workspace.inspector._stale_form`
    takes it), signed by us (:func:`workspace.guards.earlier_form_token`)."""
    sent = form.get("csrf", "")
    if not isinstance(sent, str) or not sent:
        return False
    return earlier_form_token(request.app.state.settings.secret_key.get_secret_value(),
                              me.session, sent)  # fmt: skip


def refused_post(request: Request, me: Visitor, form: FormData, refused: Refusal) -> HTMLResponse:
    """The refusal of a save or submit through a link refused since the page was opened,
    with what the post carried given back (only to the poster: :func:`own_post`); else the
    plain refusal (raised)."""
    plain = link_refused(request, refused)
    if not own_post(request, me, form):
        raise plain
    said = ""
    if refused.slug == "token-replaced":
        said = replaced_said(request, me)
    elif refused.slug in (MEMBER_REPLACED.slug, "token-refused"):  # off the team: when, before
        said = withdrawn_said(request, me)  # the post or inside its write (still_open)
    to_coordinator = refused.slug in NO_NEW_LINK or bool(said and refused.slug != "token-replaced")
    rk, cc = me.session.round_key, me.session.credit_code
    return render(
        "kept.html",
        plain.status,
        message=said or plain.message,
        fields=posted_fields(form),
        hint=COPY_TO_COORDINATOR if to_coordinator else COPY_TO_NEW,
        to_coordinator=to_coordinator,
        files=files_posted(form),
        csrf=me.csrf,
        signout=f"{page_path(rk, cc)}/signout",
    )
