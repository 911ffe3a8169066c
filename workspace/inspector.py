"""The inspector's assignment page: open from the notice link, draft, photograph or attach
files, submit, sign.

Writes go through :mod:`findings.service` (submit, sign_off): the workspace is a shell.
Every POST carries the session's CSRF token and ends in a 303 to the page (post/redirect/get),
so a reload never sends a form twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session as DbSession
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from api import inspector_tokens
from api.auth import Principal, bearer
from api.inspector_tokens import LinkRefused
from findings import evidence, media, service
from findings.categories import ACTION_LABELS, MEASURE_LABELS, RESULT_LABELS
from findings.dates import check_date_problems
from findings.schemas import MAX_EVIDENCE
from findings.settings import FindingsSettings
from registry.models import Inspector
from rounds import audit
from shuangsui import writes
from shuangsui.clock import local_label
from shuangsui.errors import Conflict, NotFound, UserError
from workspace import (
    assignment,
    attachments,
    drafts,
    formvalues,
    kept,
    photo_form,
    sessions,
    teamchanged,
)
from workspace.events import DraftSaved, EvidenceAttached, EvidenceRemoved, WorkspaceOpened
from workspace.forms import (
    FIELD_LABELS,
    REASON_FIRST,
    Said,
    draft_from_form,
    draft_refusals,
    finding_from_draft,
    in_chinese,
    sent_twice,
    to_remove,
)
from workspace.guards import (
    PageRefused,
    Posting,
    SignIn,
    Visitor,
    check_csrf,
    inspector_form,
    inspector_link,
    inspector_post,
    inspector_session,
    link_refused,
    page_path,
    still_open,
)
from workspace.pages import render

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/w", include_in_schema=False)
Me = Annotated[Visitor, Depends(inspector_session)]
CHUNK = 64 * 1024

# what the page says after post/redirect/get, by the query the redirect added
NOTICES = {
    "saved": "草稿已保存。",
    "submitted": "已提交，并已记录您的签字。",
    "signed": "已签字确认。",
}
# Starlette's refusals of a form (starlette.formparsers), said in Chinese
FORM_LIMITS = {
    "Too many fields": "表单字段过多（最多 1000 项）",
    "Too many files": "表单中的文件过多（最多 1000 个）",
    "Field exceeded maximum size": "表单中有一项文字超过 1 MiB",
    "Part exceeded maximum size": "表单中有一项文字超过 1 MiB",
    photo_form.TEXT_PAST: "表单中的文字合计超过 2 MiB",
}


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/open/{round_key}/{credit_code}")
def open_page(
    round_key: str,
    credit_code: str,
    request: Request,
    who: Annotated[Principal, Depends(inspector_link)],
) -> Response:
    """The notice's link: the link checked (a dead one is said at once), then a page naming
    the round, the enterprise and the inspector, whose button signs in (:func:`sign_in`).
    It changes nothing: a link scanner's fetch or another site's image opens nothing."""
    state = request.app.state
    view = assignment.load(state.engine, round_key, credit_code, who.name, state.settings.timezone)
    return render(
        "open.html",
        action=open_path(round_key, credit_code),
        token=bearer(request),
        heading="打开检查任务",
        facts=[
            ("轮次", round_key),
            ("企业", f"{view.enterprise_name}（{credit_code}）"),
            ("检查事项", view.check_item),
            ("完成期限", view.due_on),
            ("检查人员", view.name_of(who.name)),
        ],
        button="打开检查任务",
    )


def open_path(round_key: str, credit_code: str) -> str:
    return f"/w/open/{quote(round_key, safe='')}/{quote(credit_code, safe='')}"


@router.post("/open/{round_key}/{credit_code}")
def sign_in(
    round_key: str,
    credit_code: str,
    request: Request,
    signed: Annotated[SignIn, Depends(inspector_form)],
) -> Response:
    """The link page's button: the token it posts checked as the link's (a form from another
    origin is refused before it gets here), exchanged for a session cookie and the opening
    audited; then the page, by an address without the token."""
    state = request.app.state
    who = signed.who
    value, _ = sessions.issue(
        state.settings.secret_key.get_secret_value(),
        sessions.Session(
            "inspector",
            who.name,
            round_key,
            credit_code,
            binding=inspector_tokens.binding(who.generation),  # the link's generation
        ),
    )
    audit.append(state.engine, round_key, WorkspaceOpened("inspector", who.name, credit_code))
    path = page_path(round_key, credit_code)
    response = _see(path)
    sessions.set_inspector_cookie(request, response, path, value,
                                  state.settings.secret_key.get_secret_value())  # fmt: skip
    return response


def _context(
    request: Request, me: Visitor, prefer_draft: bool = False, **extra: Any
) -> dict[str, Any]:
    """The assignment page's context; ``prefer_draft``: the form is filled from the saved
    draft even when a version came after it (:func:`current_draft`)."""
    state = request.app.state
    rk, cc = me.session.round_key, me.session.credit_code
    view = assignment.load(state.engine, rk, cc, me.name, state.settings.timezone)
    latest = view.latest
    i_signed = latest is not None and me.name in latest.signer_ids
    settings = FindingsSettings()
    accept, kinds = attachments.file_input(settings.media_types)
    draft, stale, own = _drafts(request, me, prefer_draft)
    # the team the form posted was shown with, or the redirect's after it (workspace.teamchanged)
    shown = extra.pop("shown_team", request.query_params.get(teamchanged.FIELD, ""))
    ctx = {
        "view": view,
        "draft": draft,
        # a draft filled in before the latest version: offered, or shown when asked for
        "stale_draft": stale,
        "from_draft": stale is not None and prefer_draft,
        "csrf": me.csrf,
        "action": page_path(rk, cc),
        "signout": f"{page_path(rk, cc)}/signout",  # 退出 (workspace.signout)
        "results": list(RESULT_LABELS.items()),
        "measures": list(MEASURE_LABELS.items()),
        "actions": list(ACTION_LABELS.items()),
        "i_signed": i_signed,
        "errors": [],
        "field_errors": {},
        "notice": _notice(request, me, i_signed),
        "file_accept": accept,
        "file_kinds": kinds,
        "file_limit": attachments.size_label(settings.evidence_max_bytes),
        # a post past it is refused unread (workspace.photo_form.ceiling; workspace.pages)
        "post_limit": attachments.size_label(photo_form.ceiling(settings.evidence_max_bytes)),
        "draft_of_ended_link": own and _draft_of_ended_link(request, me),
        # the team changed under the form just saved or submitted (workspace.teamchanged)
        "team_changed": teamchanged.said(state.engine, view, shown),
        **extra,
    }
    refs = [*ctx["draft"].get("evidence", []), *(e for v in view.versions for e in v.evidence)]
    return ctx | {"evidence_of": attachments.lookup(state.engine, refs)}


def _notice(request: Request, me: Visitor, i_signed: bool) -> str:
    """What the redirect's query says was done, while it still holds: the page reloaded (or
    its tab opened again) after a teammate's correction said 已签字确认 above 待您签字确认.
    A signature or a submission holds while the latest version carries the member's
    signature; a draft saved, while the member has one."""
    key = next((key for key in NOTICES if key in request.query_params), "")
    if key == "saved":
        rk, cc = me.session.round_key, me.session.credit_code
        held = bool(drafts.load(request.app.state.settings.home, rk, cc, me.name))
    else:
        held = i_signed
    return NOTICES[key] if key and held else ""


# the generation of the link whose session saved a draft (``notifications.generations``)
LINK_GENERATION = "link_generation"


def _draft_of_ended_link(request: Request, me: Visitor) -> bool:
    """Whether the saved draft was saved through a link of the member's ended since (or
    before drafts said which: generation 0): whoever held that link may have written it, and
    the page shows it as the member's own."""
    saved = drafts.load(request.app.state.settings.home, me.session.round_key,
                        me.session.credit_code, me.name)  # fmt: skip
    current = inspector_tokens.generation_of(me.session.binding)
    return bool(saved) and saved.get(LINK_GENERATION, 0) != current


def current_draft(request: Request, me: Visitor, prefer_draft: bool = False) -> dict[str, Any]:
    """The inspector's saved draft; else the latest version (a correction starts from it). A
    draft filled in on an earlier version than the latest (``workspace.drafts.stale``: saved
    before a teammate or a coordinator submitted) only when ``prefer_draft`` (the page asked
    for it, or the form posted was filled from it): else the latest version."""
    return _drafts(request, me, prefer_draft)[0]


def _drafts(
    request: Request, me: Visitor, prefer_draft: bool
) -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
    """(what the form starts from, as :func:`current_draft`; the saved draft when it is stale,
    as the page says it: the version it was filled in on (None: not recorded), when it was
    saved, the latest version; else None; whether the saved draft is on the page, filling the
    form or offered).

    A draft saved before the latest version became final (``workspace.drafts.before_final``:
    written before the member or a teammate signed the result) is neither offered nor filled
    in, unless ``prefer_draft`` (a form filled from it before, posted now): the page offered
    it above the final result until the member saved again. Its file stays until then."""
    state = request.app.state
    rk, cc = me.session.round_key, me.session.credit_code
    home = state.settings.home
    draft = drafts.load(home, rk, cc, me.name)
    hist = service.history(state.engine, rk, cc)
    latest = hist.versions[-1] if hist.versions else None
    stale = None
    if draft and latest is not None:
        saved = drafts.saved_at(home, rk, cc, me.name)
        if not prefer_draft and drafts.before_final(saved, hist.states[-1].final_at):
            draft = {}
        elif drafts.stale(draft, saved, latest.version, latest.created_at):
            base = draft.get(drafts.BASE)
            stale = {
                "base": base if isinstance(base, int) else None,
                "saved_at": local_label(saved, state.settings.timezone) if saved else "",
                "latest": latest.version,
            }
    if draft and (prefer_draft or stale is None):
        return draft, stale, True
    if latest is None:
        return {}, stale, False
    v = latest
    measure = v.measures[0] if v.measures else {}
    start = {
        "result": str(v.result),
        "check_date": v.check_date.isoformat(),
        "description": v.description,
        "internal_note": v.internal_note,
        "measure_kind": measure.get("kind", ""),
        "measure_deadline": measure.get("deadline") or "",
        "measure_text": measure.get("text", ""),
        "certificates": {f"{c['body']}:{c['number']}": c["action"] for c in v.certificates},
        "evidence": list(v.evidence),
        "reason": "",
    }
    return start, stale, stale is not None  # offered when stale


# the findings form's hidden field saying it was filled from a stale draft (the page offered it)
FROM_DRAFT = "from_draft"


def from_draft(form: FormData) -> bool:
    """Whether the form posted was filled from the saved draft while it was stale."""
    return form.get(FROM_DRAFT) == "1"


@router.get("/a/{round_key}/{credit_code}")
def assignment_page(request: Request, me: Me) -> Response:
    """The page; ``?draft=1`` fills the correction form from a draft saved before the latest
    version (the page offers it; without it the form starts from the latest version)."""
    asked = request.query_params.get("draft") == "1"
    return render("assignment.html", **_context(request, me, prefer_draft=asked))


def declared_type(upload: UploadFile) -> str:
    """The type the browser sent for a file; by its extension when the browser did not know
    (no type, or application/octet-stream: a HEIC photo on a desktop, say)."""
    declared = upload.content_type or ""
    if media.normalise(declared) in ("", "application/octet-stream"):
        return media.by_extension(upload.filename or "") or declared
    return declared


async def _store_files(
    request: Request, me: Visitor, form: Any
) -> tuple[list[dict[str, str]], list[str]]:
    """Store the form's photos (camera) and files: the evidence they are, and why each
    refused file was refused. A refused file is left out and stores nothing; the rest stay.
    Each row is written after the link is checked again (``LinkRefused``: no row). The draft
    takes files up to what a finding cites (``MAX_EVIDENCE``, with those it keeps): each one
    past it is named, not stored (a post may carry a thousand small files)."""
    state = request.app.state
    settings = FindingsSettings()
    out: list[dict[str, str]] = []
    refused = []
    kept = await run_in_threadpool(current_draft, request, me, from_draft(form))
    held = len([e for e in kept.get("evidence", []) if e["sha256"] not in to_remove(form)])
    for upload in [*form.getlist("photo"), *form.getlist("attachment")]:
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        filename = upload.filename
        if why := attachments.name_refused(filename):  # stored nothing, as the API refuses it
            refused.append(why)
            continue
        if held + len(out) >= MAX_EVIDENCE:
            refused.append(attachments.too_many(filename, MAX_EVIDENCE, held + len(out)))
            continue
        try:
            with evidence.EvidenceWriter(
                state.settings.home, declared_type(upload), settings, filename=filename
            ) as writer:
                while chunk := await upload.read(CHUNK):
                    writer.write(chunk)
                digest, _ = writer.finish()
        except UserError as exc:
            refused.append(attachments.refusal(exc, filename))
            continue
        await run_in_threadpool(
            evidence.record,
            state.engine,
            sha256=digest,
            size=writer.size,
            media_type=writer.media_type,
            filename=filename,
            uploaded_by=f"inspector:{me.name}",
            round_key=me.session.round_key,  # linked to this assignment alone
            credit_code=me.session.credit_code,
            allowed=still_open(request, me),
        )
        event = EvidenceAttached(me.session.credit_code, me.name, digest, writer.size)
        await run_in_threadpool(audit.append, state.engine, me.session.round_key, event)
        if all(e["sha256"] != digest for e in out):
            out.append({"sha256": digest, "filename": filename})
    return out, refused


async def read_form(request: Request) -> FormData:
    """The posted form; one the parser refuses (too many fields, a part too large, broken
    multipart) is a 400 page saying why, before anything is changed. A body past the route's
    limit stays the middleware's 413 (``api.limits``)."""
    try:
        return await request.form()
    except HTTPException as exc:
        raise _unreadable(exc) from None


async def read_findings_form(request: Request) -> photo_form.BoundedForm:
    """The findings form as :func:`read_form` reads a form, its files kept up to the photos'
    limit together (``workspace.photo_form``): the files past it are named, not stored."""
    try:
        return await photo_form.read_bounded(request, FindingsSettings().evidence_max_bytes)
    except HTTPException as exc:
        raise _unreadable(exc) from None


def _unreadable(exc: HTTPException) -> Exception:
    """The parser's refusal of a form (400) as the page says it; any other as it is."""
    if exc.status_code != 400:
        return exc
    said = next((zh for en, zh in FORM_LIMITS.items() if exc.detail.startswith(en)), "")
    reason = said or f"格式有误（{exc.detail}）"  # the parser's English only if unknown
    return PageRefused(400, f"表单无法读取：{reason}。未保存任何内容。")


# the forms' hidden version numbers, as a refusal names them (the page shows no label)
VERSION_FIELDS = {"base_version": "表单中的版本号", "version": "签字表单中的版本号"}


def version_field(form: FormData, name: str) -> int | None:
    """The version number ``name`` of the form (ASCII digits), None when not sent; anything
    else ("x", "²", a thousand digits) is a 422 naming the field."""
    if len(form.getlist(name)) > 1:
        raise PageRefused(422, f"{VERSION_FIELDS[name]}填写了不止一次。请返回页面重新提交。")
    value = form.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)
    raise PageRefused(422, f"{VERSION_FIELDS[name]}无效，应为数字。请返回页面重新提交。")


@router.post("/a/{round_key}/{credit_code}")
async def save_or_submit(
    request: Request, posting: Annotated[Posting, Depends(inspector_post)]
) -> Response:
    """保存草稿 or 提交: photos and files are stored first, the draft always, the version on
    提交 (not when a file was refused: the page says which and why). Each of these writes
    checks the link again. A link refused since the page was opened (ended, revoked,
    expired), before the post or during its writes, is said with what the post carried given
    back to its poster (``workspace.kept``), and that write and those after it are not made."""
    me = posting.visitor
    read = await read_findings_form(request)
    form = read.form
    try:
        if posting.refused is not None:
            return await run_in_threadpool(kept.refused_post, request, me, form, posting.refused)
        try:
            await check_csrf(request, me)
        except PageRefused as refused:
            if refused.status != 403:
                raise
            return await run_in_threadpool(_stale_form, request, me, form)
        return await _save_or_submit(request, me, read)
    except LinkRefused as exc:  # refused since the page let the form in: nothing more written
        return await run_in_threadpool(kept.refused_post, request, me, form, exc.refused)
    finally:
        await form.close()  # the uploads' spooled files


STALE = ("这个表单的令牌（CSRF）不属于当前会话：它来自较早打开的页面（通知链接之后又被打开过），"
         "未保存。您填写的内容已保留在下方，照片和文件需重新选择；"
         "请检查后再次保存或提交。")  # fmt: skip
# no token at all: not this page's form (another program's post, or a body not sent as a form)
UNSIGNED = ("提交的内容不是本页面的表单（没有表单令牌 CSRF），未保存任何内容。"
            "请在本页面填写后点击“保存草稿”或“提交”。")  # fmt: skip
# a token we never gave this member for this check: not a page of theirs, so nothing comes back
UNKNOWN = ("提交的内容不是本页面的表单（表单令牌 CSRF 不是本网站为您的这项任务签发的），"
           "未保存任何内容。请在本页面填写后点击“保存草稿”或“提交”。")  # fmt: skip


def _stale_form(request: Request, me: Visitor, form: FormData) -> Response:
    """A form whose CSRF token is not this session's, most often a tab left open before the
    notice's link was opened again (a new session): refused (403) and nothing saved, but the
    page comes back with what was typed and this session's token, so nothing typed is lost.
    A post from another origin never gets here: ``workspace.origins`` refuses it first (a
    page on another port of the same host is the same site, and its post carries the cookie).
    Only a token we gave this member on this check, in this session or an earlier one
    (``workspace.kept.own_post``), has its text shown back: any other post is its sender's,
    not the member's, and gets the draft as saved. A team changed since that form was shown
    is said with it (``workspace.teamchanged``), not only after the next save."""
    unsaved: dict[str, Any] = {"unsaved": True, "errors_heading": "未保存"}  # never say saved
    if not form.get("csrf"):  # nothing typed on this page came with it: the draft as saved
        return render("assignment.html", 403, **_context(request, me, errors=[UNSIGNED], **unsaved))
    if not kept.own_post(request, me, form):
        return render("assignment.html", 403, **_context(request, me, errors=[UNKNOWN], **unsaved))
    attached = current_draft(request, me, from_draft(form)).get("evidence", [])
    shown = formvalues.text(form, teamchanged.FIELD)  # a team changed under it said here too
    ctx = _context(request, me, from_draft(form), draft=draft_from_form(form, attached),
                   errors=[STALE], shown_team=shown, **unsaved)  # fmt: skip
    return render("assignment.html", 403, **ctx)


FILES_AGAIN = "随本次提交选择的照片和文件未上传，请改正上述内容后重新选择。"


def _not_held(request: Request, me: Visitor, form: FormData, held: list[Said]) -> Response:
    """A 保存草稿 or 提交 whose fields break their own rules (``forms.draft_refusals``: a
    description past 4000 characters posted by a script): refused (422) before anything is
    kept, no file, no draft (a draft that held it would only be refused at its submit), each
    refusal beside its field, the form given back as typed with the files already attached,
    and a team changed since the form was shown said with them (``workspace.teamchanged``)."""
    attached = current_draft(request, me, from_draft(form)).get("evidence", [])
    files = [FILES_AGAIN] if kept.files_posted(form) else []
    shown = formvalues.text(form, teamchanged.FIELD)  # a team changed under it said here too
    ctx = _context(request, me, from_draft(form), draft=draft_from_form(form, attached),
                   errors=[s.text for s in held] + files, field_errors=by_field(held),
                   unsaved=True, errors_heading="未保存", shown_team=shown)  # fmt: skip
    return render("assignment.html", 422, **ctx)


async def _save_or_submit(request: Request, me: Visitor, read: photo_form.BoundedForm) -> Response:
    """Files first, then the draft; then, on 提交 with no file refused, the version. Every
    refusal of one post is said at once, each by its field (:func:`by_field`): the files
    refused, and on 提交 what the form's fields lack, so a missing result and a photo of the
    wrong type come back together. A post cut off at the ceiling, or stopped at a file name past
    the parser's bound, is only saved as a draft. A field past its own rule keeps nothing of
    the post (:func:`_not_held`); a team changed since the form was shown is said after it
    (``workspace.teamchanged``)."""
    state = request.app.state
    form = read.form
    rk, cc = me.session.round_key, me.session.credit_code
    base = version_field(form, "base_version")  # checked before anything is written
    reason = REASON_FIRST if not base else FIELD_LABELS["reason"]  # as the page labelled it
    if twice := sent_twice(form, reason):
        raise PageRefused(422, twice)
    typed = draft_from_form(form, [])
    if held := draft_refusals(typed, reason):  # kept nowhere; on 提交, every refusal at once
        if form.get("action") == "submit":
            held = finding_from_draft(typed, reason)[1]
            dated = await run_in_threadpool(_date_said, state.engine, rk, cc, typed, reason)
            held += [Said("check_date", d) for d in dated]
        return _not_held(request, me, form, held)
    home = state.settings.home
    files, refused = await _store_files(request, me, form)
    refused += photo_form.unread(read)
    draft = await run_in_threadpool(_save_draft, request, me, form, files, base or 0)
    digest = hashlib.sha256(json.dumps(draft, sort_keys=True).encode()).hexdigest()
    await run_in_threadpool(audit.append, state.engine, rk, DraftSaved(cc, me.name, digest))
    submitting = form.get("action") == "submit" and not read.stopped
    shown = formvalues.text(form, teamchanged.FIELD)
    moved = await run_in_threadpool(teamchanged.moved, state.engine, rk, cc, shown)
    team = f"&{teamchanged.FIELD}={quote(shown, safe=',')}" if moved else ""
    if not submitting and not refused:
        return _see(page_path(rk, cc) + "?saved=1" + team)
    said = [Said("attachments", r) for r in refused]
    status = 413 if read.cut else 422
    data = None
    if submitting:  # the fields' refusals too, with the files' (the typed text is kept)
        data, found = finding_from_draft(draft, reason)
        said += found
        if data is None:  # the date is told with the rest, not after they are mended
            dated = await run_in_threadpool(_date_said, state.engine, rk, cc, draft, reason)
            said += [Said("check_date", d) for d in dated]
    if data is not None and not refused:
        try:
            await run_in_threadpool(
                service.submit,
                state.engine,
                round_key=rk,
                credit_code=cc,
                data=data,
                submitted_by=f"inspector:{me.name}",
                signers=[me.name],
                via="workspace",
                base_version=0 if base is None else base,  # not sent: it read none
                allowed=still_open(request, me),
            )
        except (Conflict, UserError) as exc:  # a version came first (whose: came_first): 409
            first = ""
            if isinstance(exc, Conflict):
                first = await run_in_threadpool(came_first, request, me, exc, base or 0)
                first = first and first + KEPT
            found = [beside(r, reason) for r in refusals(exc, "提交")]
            said = [Said("", first)] if first else found
            status = 409 if isinstance(exc, Conflict) else 422
    if said:
        heading = "" if submitting else "草稿已保存，以下内容未保存"
        # the form as posted, the draft just saved, even when a version came before it
        ctx = _context(request, me, True, errors=[s.text for s in said], shown_team=shown,
                       field_errors=by_field(said), errors_heading=heading)  # fmt: skip
        return render("assignment.html", status, **ctx)
    drafts.discard(home, rk, cc, me.name)
    return _see(page_path(rk, cc) + "?submitted=1" + team)


# the service's refusals of a version, by how each starts: the field it is shown beside
_STARTS = [(f"{FIELD_LABELS['check_date']}", "check_date"),
           (f"{FIELD_LABELS['certificates']}：", "certificates"),
           (f"{FIELD_LABELS['evidence']}：", "attachments")]  # fmt: skip


def beside(said: str, reason: str) -> Said:
    """A refusal of :mod:`findings.service` by the field it is shown beside: the round's
    dates by the check date, a certificate by the certificates, a file by the files; any
    other (the whole post's) by none. The reason is named as the page labels it."""
    said = said.replace(f"“{REASON_FIRST}”", f"“{reason}”")
    return Said(next((f for start, f in _STARTS if said.startswith(start)), ""), said)


def by_field(said: list[Said]) -> dict[str, list[str]]:
    """Each refusal of a post by the form's field it is shown beside (its element's id); one
    of the whole post (a version came first) only at the top, as every refusal is."""
    out: dict[str, list[str]] = {}
    for where, text in said:
        if where:
            out.setdefault(where, []).append(text)
    return out


# after who came first; the banner says the draft is saved (assignment.html)
KEPT = "请先阅读最新版本，再签字确认或提交更正。"
CAPPED = ("这家企业的检查结果已有 {0} 版，已到上限，不能再提交更正。"
          "如确需更正，请联系协调员。")  # fmt: skip
NEEDS_REASON = (
    "这家企业已有检查结果，您的内容与最新版本不同：这是一次更正，请填写更正理由后再提交。"
)
NOT_ON_TEAM = "您不在这家企业本轮的检查组中，不能{0}。请刷新页面；如有疑问，请联系协调员。"
NO_VERSION_YET = "这家企业还没有已提交的检查结果，没有第 {0} 版。请刷新页面后再{1}。"
NO_SUCH_VERSION = "没有第 {0} 版（最新的是第 {1} 版）。请刷新页面，阅读最新版本后再{2}。"
BUSY = "同时有多人在修改这家企业的检查结果，未能{0}。请刷新页面后重试。"
REFUSED = "系统未接受这次{0}。请刷新页面后重试；如仍不成，请联系协调员。"


def _date_said(
    engine: Any, round_key: str, credit_code: str, draft: dict[str, Any], reason: str
) -> list[str]:
    """What the round's dates say of a draft's check date (and its reason, labelled ``reason``
    on the page), for a form refused for its other fields; nothing when the date itself is
    not one (the form said so)."""
    try:
        day = date.fromisoformat(draft.get("check_date") or "")
    except ValueError:
        return []
    with DbSession(engine) as db:
        found = check_date_problems(db, round_key, credit_code, day, draft.get("reason") or "")
    return [beside(in_chinese(p), reason).text for p in found]


def refusals(exc: UserError, doing: str) -> list[str]:
    """:func:`refusal`, one for each of the faults of a version the service refused
    (:class:`findings.service.VersionRefused`: its date, a certificate, a file)."""
    if isinstance(exc, service.VersionRefused):
        return [refusal(UserError(p), doing) for p in exc.problems]
    return [refusal(exc, doing)]


def refusal(exc: UserError, doing: str) -> str:
    """A refusal of :mod:`findings.service` as the page says it, by its kind (the English is
    the API's); ``doing``: what the inspector tried (提交, 签字). A conflict over another
    version is :func:`came_first`'s to say; one over this page's version (a correction needs
    a reason) is said here. The findings' checks of a form's content are said as
    :func:`workspace.forms.in_chinese` says them; anything else, the page says it could not
    and what to do, rather than show the API's English. Each ends a sentence."""
    if isinstance(exc, service.VersionCapReached):
        return CAPPED.format(service.MAX_VERSIONS)
    if isinstance(exc, service.NotOnTeam):
        return NOT_ON_TEAM.format(doing)
    if isinstance(exc, service.NoSuchVersion) and exc.latest is None:
        return NO_VERSION_YET.format(exc.version, doing)
    if isinstance(exc, service.NoSuchVersion):
        return NO_SUCH_VERSION.format(exc.version, exc.latest, doing)
    if isinstance(exc, Conflict) and "latest_version" in exc.details:
        return NEEDS_REASON
    if isinstance(exc, Conflict):  # too many writers at once (shuangsui.writes)
        return BUSY.format(doing)
    said = in_chinese(str(exc))  # the message itself when none of the checks
    return said.rstrip("。") + "。" if said != str(exc) else REFUSED.format(doing)


def came_first(
    request: Request, me: Visitor, exc: Conflict, base: int, doing: str = "填写时依据"
) -> str:
    """Who submitted the version that came before this page's, and when: the inspector
    themself (in another tab or on another device), a teammate by name, or a coordinator;
    "" when the conflict is not another version (this page's read the latest already).
    ``doing``: what the page did with version ``base`` (filled a form in on it, signed it);
    ``base`` 0: the form of the first version, filled in when there was none."""
    latest = exc.details.get("latest_version")
    if not latest or latest["version"] == base:
        return ""
    role, _, who = str(latest["submitted_by"]).partition(":")
    state = request.app.state
    at = local_label(datetime.fromisoformat(latest["submitted_at"]), state.settings.timezone)
    number, was = latest["version"], f"您{doing}的第 {base} 版已不是最新："
    if base == 0:  # the first version's form: there was no version to be filled in on
        was = "您填写时还没有已提交的结果，页面已不是最新："
    if role == "inspector" and who == me.name:
        return f"{was}您本人已于 {at} 提交了第 {number} 版（在另一个标签页或设备上）。"
    if role == "inspector":
        with DbSession(state.engine) as db:
            found = db.get(Inspector, who)
        name = f"{found.name}（{who}）" if found else who
        return f"{was}同组已提交第 {number} 版（{name}于 {at} 提交）。"
    return f"{was}协调员 {who} 已于 {at} 录入第 {number} 版。"


def _save_draft(
    request: Request, me: Visitor, form: FormData, files: list[dict[str, str]], base: int
) -> dict[str, Any]:
    """The form as the inspector's draft, with the files already attached (those the form
    showed: the saved draft's, or the latest version's when it started from it) and ``files``;
    saved, with ``base``, the version the form was filled in on. A save of the same draft at
    once (another tab) waits, so each keeps the other's files: the draft is read again under
    its lock, never from before. The file is written while the link is checked again
    (``shuangsui.writes.checked``): a revocation committed before refuses the save
    (``LinkRefused``), one under way or later waits for it."""
    rk, cc = me.session.round_key, me.session.credit_code
    state = request.app.state
    home = state.settings.home
    with drafts.locked(home, rk, cc, me.name):
        kept = current_draft(request, me, from_draft(form)).get("evidence", [])
        new = [f for f in files if all(e["sha256"] != f["sha256"] for e in kept)]
        removed = [e for e in kept if e["sha256"] in to_remove(form)]
        attached = [e for e in [*kept, *new] if e not in removed]
        draft = draft_from_form(form, attached)
        draft[LINK_GENERATION] = inspector_tokens.generation_of(me.session.binding)
        draft[drafts.BASE] = base
        with writes.checked(state.engine, still_open(request, me)):
            drafts.save(home, rk, cc, me.name, draft)
    for e in removed:  # the log shows what was attached and left out
        audit.append(state.engine, rk, EvidenceRemoved(cc, me.name, e["sha256"]))
    return draft


@router.post("/a/{round_key}/{credit_code}/sign")
async def sign(request: Request, me: Me) -> Response:
    """签字确认 of the version the form names. A form is closed however it ends (a file sent
    in its fields is a spooled file: left open, the leak of a post to this address)."""
    form = await read_form(request)
    try:
        return await _sign(request, me, form)
    finally:
        await form.close()


async def _sign(request: Request, me: Visitor, form: FormData) -> Response:
    await check_csrf(request, me)
    version = version_field(form, "version")
    rk, cc = me.session.round_key, me.session.credit_code
    if version is None:
        raise PageRefused(422, "签字表单缺少版本号。请刷新页面后再签字。")
    if version == 0:  # versions count from 1 (the page names one it shows)
        said = f"{VERSION_FIELDS['version']}无效：没有第 0 版。请刷新页面后再签字。"
        raise PageRefused(422, said)
    try:
        await run_in_threadpool(
            service.sign_off,
            request.app.state.engine,
            round_key=rk,
            credit_code=cc,
            version=version,
            inspector_id=me.name,
            via="workspace",
            allowed=still_open(request, me),
        )
    except LinkRefused as exc:
        raise link_refused(request, exc.refused) from None
    except (Conflict, NotFound, UserError) as exc:
        status = 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 422
        said = ""
        if isinstance(exc, Conflict):  # corrected since the page was read: by whom, when
            said = await run_in_threadpool(came_first, request, me, exc, version, "要签字")
            said = said and said + "请先阅读最新版本，再签字确认。"
        errors = [said or refusal(exc, "签字")]
        ctx = _context(request, me, errors=errors, signing=True)
        return render("assignment.html", status, **ctx)
    return _see(page_path(rk, cc) + "?signed=1")


@router.get("/a/{round_key}/{credit_code}/evidence/{sha256}")
def evidence_file(sha256: str, request: Request, me: Me) -> Response:
    """A file of this assignment, in the inspector's draft or in a version, and uploaded for
    it (``findings.evidence.servable``: a digest cited from elsewhere opens nothing)."""
    state = request.app.state
    rk, cc = me.session.round_key, me.session.credit_code
    named = {
        e["sha256"] for e in drafts.load(state.settings.home, rk, cc, me.name).get("evidence", [])
    }
    for v in service.history(state.engine, rk, cc).versions:
        named |= {e["sha256"] for e in v.evidence}
    named = evidence.servable(state.engine, rk, cc, sha256, named)
    return attachments.served(state.engine, state.settings.home, sha256, named)
