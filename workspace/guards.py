"""Who a workspace page is for: the session cookie, checked against the database each time.

Each guard is a FastAPI dependency carrying :data:`api.auth.ROLES_ATTR`, so ``create_app``
knows every page's role. A refusal is :class:`PageRefused`, rendered as a page in Chinese
(``workspace.pages.install``), not as JSON.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from sqlmodel import Session as DbSession
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api import inspector_tokens, tokens
from api.auth import QUERY_NAME, ROLES_ATTR, Principal, Role, admit, allow
from api.problems import Problem
from findings.models import CoordinatorToken
from rounds.models import TeamChange
from shuangsui import logsafe
from workspace import sessions


class PageRefused(Exception):
    """A page that may not be shown: status, what to tell the person, and where to go on from
    (default: the path asked for, which a form posted to a path of its own cannot be)."""

    def __init__(self, status: int, message: str, back: str | None = None):
        super().__init__(message)
        self.status, self.message, self.back = status, message, back


# what may carry a token in a path: path parameters (``/w/open/R/C;token=...``) and pairs;
# no route of ours takes either
_PATH_PAIRS = re.compile(r"[;=]")


# the last part of a form's address that has no page of its own (the page is the rest)
FORM_ACTIONS = frozenset(
    {"replace", "redate", "relink", "retry-dead", "import", "ceremony", "sign", "accept", "merge"}
    | {"reject", "decline", "signout"}  # signout: 退出 (workspace.signout), a form on every page
)


def page_path(round_key: str, credit_code: str) -> str:
    """The address of an inspector's assignment page (and their cookie's Path)."""
    return f"/w/a/{quote(round_key, safe='')}/{quote(credit_code, safe='')}"


def back_link(path: str) -> str:
    """Where a refusal page's 继续 goes: ``path`` cut before its first ``;`` or ``=``, and
    nowhere ("") when what is left still names a token or holds one's shape (a coordinator's
    ``ssc_...``). A refusal page never writes a token the request carried back into itself,
    whatever refused it (a link's token check, a form, the framework). A form's own address
    (``…/e/{code}/redate``, ``…/sign``) is not a page (a GET of it is a 405): its page is."""
    kept = _PATH_PAIRS.split(path, maxsplit=1)[0]
    if "token" in kept.lower() or logsafe.redact(kept) != kept:
        return ""
    page, _, last = kept.rstrip("/").rpartition("/")
    return page if last in FORM_ACTIONS and page.startswith("/w/") else kept


@dataclass(frozen=True)
class Visitor:
    session: sessions.Session
    csrf: str

    @property
    def name(self) -> str:
        return self.session.subject


def _secret(request: Request) -> str:
    return str(request.app.state.settings.secret_key.get_secret_value())


def sent_sessions(request: Request, cookie: str, kind: str) -> list[sessions.Session]:
    """The genuine sessions of ``kind`` (signed by us, not expired) this browser sent in
    ``cookie``, each once, from the raw ``Cookie`` header: a browser holding two cookies of
    the name (a sibling host's ``Domain=`` one, a path-scoped one beside ours) sends both, and
    which is ours the header does not say (docs/security.md, "A session cookie sent twice")."""
    secret = _secret(request)
    found = [sessions.read(secret, value) for value in sessions.cookie_values(request, cookie)]
    return [s for s in found if s is not None and s.kind == kind]


def sent_session(request: Request, cookie: str, kind: str) -> sessions.Session | None:
    """The session this browser sent in ``cookie``, if exactly one genuine one of ``kind``
    came (one that does not verify beside it, forged or stale, is no session and ignored);
    None otherwise: none, or two genuine ones (:func:`refuse_two`). Whether it may still do
    anything is the caller's to check."""
    found = sent_sessions(request, cookie, kind)
    return found[0] if len(found) == 1 else None


TWO_SESSIONS = (
    "浏览器同时发送了两个不同的有效会话（Cookie {cookie}，其中一个可能由同一域名下的其他网站"
    "设置），无法确定是谁在操作，本次未予处理。请清除本网站的 Cookie（或关闭浏览器），"
    "然后重新打开链接。"
)


def refuse_two(request: Request, cookie: str, kind: str) -> None:
    """A 401 page naming the cause when the browser sent two genuine sessions in ``cookie``:
    taking either could act as someone the person did not sign in as."""
    if len(sent_sessions(request, cookie, kind)) > 1:
        raise PageRefused(401, TWO_SESSIONS.format(cookie=cookie))


def visitor(request: Request, found: sessions.Session) -> Visitor:
    """``found`` with its form token (CSRF)."""
    return Visitor(found, form_token(_secret(request), found))


def _form_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"shuangsui-inspector-form-v1", hashlib.sha256).digest()


def form_token(secret: str, session: sessions.Session) -> str:
    """The session's form token (CSRF). An inspector's is the session's nonce and an HMAC
    naming the member, the check and that nonce: a write takes this session's alone, but a
    token of an earlier session is still recognisable as one given to this member on this
    check (:func:`earlier_form_token`); a coordinator's is ``sessions.csrf_token``."""
    if session.kind != Role.inspector:
        return sessions.csrf_token(secret, session)
    named = [session.subject, session.round_key, session.credit_code, session.nonce]
    body = json.dumps(named, ensure_ascii=False, separators=(",", ":")).encode()
    return f"{session.nonce}.{hmac.new(_form_key(secret), body, hashlib.sha256).hexdigest()}"


def form_token_ok(secret: str, session: sessions.Session, sent: str) -> bool:
    expected = form_token(secret, session).encode()
    return hmac.compare_digest(expected, sent.encode("utf-8", "surrogateescape"))


def earlier_form_token(secret: str, session: sessions.Session, sent: str) -> bool:
    """Whether ``sent`` is the form token of a session of the inspector's on this check, this
    one or an earlier one (a tab opened before the notice's link was opened again): signed
    by us, naming this member, this round and this enterprise."""
    nonce, dot, _ = sent.partition(".")
    if session.kind != Role.inspector or not dot:
        return False
    return form_token_ok(secret, dataclasses.replace(session, nonce=nonce), sent)


# no 继续 back to this address: without a session it answers the same again
NO_SESSION = "没有有效的会话（或已过期）。请重新打开通知中这项任务的链接。"
# the browser holds a session of the inspector's, for another assignment: each assignment's
# link opens its own page only, so this address cannot be opened with it (继续: their own)
OTHER_ASSIGNMENT = ("此地址是另一项检查任务（{asked}）的页面，"
                    "您在本浏览器中打开的是 {held} 的检查任务，"
                    "每项任务只能用通知中它自己的链接打开。如这项任务也是您的，请打开通知中它的链接；"
                    "点击“继续”回到您已打开的任务。")  # fmt: skip


def _no_session(request: Request, round_key: str, credit_code: str) -> PageRefused:
    """The refusal of an assignment's page to a browser with no session for it: with a way
    to the assignment whose session it does hold (over TLS every one of them is sent, each
    named for its page; on http only a cookie whose Path covers this page), or none; never
    a 继续 to this address, which would answer the same."""
    names = {sessions.cookie(request, sessions.INSPECTOR_COOKIE, "/").name}
    prefix = sessions.HOST_PREFIX + sessions.INSPECTOR_COOKIE + "_"
    names |= {n for n in request.cookies if n.startswith(prefix)}
    held = [s for n in sorted(names) for s in sent_sessions(request, n, Role.inspector)]
    held = [s for s in held if (s.round_key, s.credit_code) != (round_key, credit_code)]
    if not held:
        return PageRefused(401, NO_SESSION, back="")
    own = max(held, key=lambda s: s.expires)  # the one opened last
    said = OTHER_ASSIGNMENT.format(asked=f"{round_key} {credit_code}",
                                   held=f"{own.round_key} {own.credit_code}")  # fmt: skip
    return PageRefused(401, said, back=page_path(own.round_key, own.credit_code))


def inspector_session(request: Request) -> Visitor:
    """The inspector of this page's assignment, still allowed to work on it."""
    me, refused = _inspector(request)
    if refused is not None:
        raise link_refused(request, refused)
    return me


@dataclass(frozen=True)
class Posting:
    """An inspector's post: who, and why their link no longer lets them write (None: it does)."""

    visitor: Visitor
    refused: inspector_tokens.Refusal | None


def inspector_post(request: Request) -> Posting:
    """The inspector of this page's assignment, as :func:`inspector_session`, but a link
    refused since (ended, revoked, expired) is handed to the route: its page gives back what
    the post carried (``workspace.kept``)."""
    return Posting(*_inspector(request))


def _inspector(request: Request) -> tuple[Visitor, inspector_tokens.Refusal | None]:
    """The session's inspector on this page's assignment and why their link is refused now
    (None: it is not); no session for it, or not on its team, is refused here."""
    round_key = request.path_params.get("round_key", "")
    credit_code = request.path_params.get("credit_code", "")
    cookie = sessions.cookie(request, sessions.INSPECTOR_COOKIE, page_path(round_key, credit_code))
    found = sent_session(request, cookie.name, Role.inspector)
    if found is None:
        refuse_two(request, cookie.name, Role.inspector)
    if found is None or (found.round_key, found.credit_code) != (round_key, credit_code):
        raise _no_session(request, round_key, credit_code)
    settings = request.app.state.settings
    with DbSession(request.app.state.engine) as db:
        access = inspector_tokens.load(db, round_key, credit_code)
    if access is None or found.subject not in access.team:
        if access is None or withdrawal(request, found) is None:
            raise PageRefused(403, "此会话不能打开这项任务。")
        return visitor(request, found), MEMBER_REPLACED  # the post still given back its text
    refused = inspector_tokens.refusal(access, found.subject, round_key, settings)
    generation = inspector_tokens.generation_of(found.binding)
    if refused is None and access.generations.get(found.subject, 0) != generation:
        refused = inspector_tokens.replaced_refusal(settings.bureau_name)  # opened by an old link
    if refused is None:  # a refused link is said (a post given back) whatever its address
        each_once(request)
    return visitor(request, found), refused


# a member withdrawn from the team since their session opened (docs/draw-algorithm.md §14):
# their page refused as a link's is, and their post given back (``workspace.kept``)
MEMBER_REPLACED = inspector_tokens.Refusal(403, "member-replaced", "replaced on this team")


def withdrawal(request: Request, found: sessions.Session) -> TeamChange | None:
    """The latest replacement that withdrew the session's inspector from its check's team
    (None: the database holds none)."""
    with DbSession(request.app.state.engine) as db:
        return db.exec(select(TeamChange).where(
            col(TeamChange.round_key) == found.round_key,
            col(TeamChange.credit_code) == found.credit_code,
            col(TeamChange.withdrawn) == found.subject,
        ).order_by(col(TeamChange.n).desc()).limit(1)).first()  # fmt: skip


def link_refused(request: Request, refused: inspector_tokens.Refusal) -> PageRefused:
    """An inspector's link refused, as the page tells it: when the page is asked for, or when a
    write through it finds it revoked since (:func:`still_open`)."""
    bureau = request.app.state.settings.bureau_name
    return PageRefused(refused.status, said(refused.slug, refused.detail, bureau))


def still_open(request: Request, visitor: Visitor) -> Callable[[DbSession], None]:
    """The check of the visitor's link again, inside a write's own transaction (it raises
    ``api.inspector_tokens.LinkRefused``: answer it with :func:`link_refused`)."""
    s = visitor.session
    settings = request.app.state.settings
    generation = inspector_tokens.generation_of(s.binding)
    return inspector_tokens.still_open(settings, s.round_key, s.credit_code, s.subject, generation)


COORDINATOR_REFUSED = "协调员令牌已被撤销或更换，请重新登录。"


def coordinator_session(request: Request) -> Visitor:
    """A coordinator whose token is still the current, unrevoked one of this bureau."""
    cookie = sessions.cookie(request, sessions.COORDINATOR_COOKIE, sessions.COORDINATOR_PAGES)
    found = sent_session(request, cookie.name, Role.coordinator)
    if found is None:
        refuse_two(request, cookie.name, Role.coordinator)
        raise PageRefused(401, "没有有效的协调员会话。请用协调员链接重新登录。")
    with DbSession(request.app.state.engine) as db:
        row = db.get(CoordinatorToken, found.subject)
    if (
        row is None
        or row.revoked_at is not None
        or row.bureau_code != request.app.state.settings.bureau_code
        or not row.token_hash.startswith(found.binding)
    ):
        raise PageRefused(401, COORDINATOR_REFUSED)
    each_once(request)
    return visitor(request, found)


# a parameter's name as a refusal says it: as typed when it is a plain name, else escaped
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
TWICE_IN_ADDRESS = (
    "链接地址中的参数 {name} 出现了 {count} 次，无法确定以哪一个为准，本次未予处理。请只保留一个。"
)


def each_once(request: Request) -> None:
    """A 400 page naming the first parameter the address gives more than once (``?period=
    2026-11&period=2026-12``, an inspector's ``?draft=1&draft=0``): which one counts is not
    the server's to guess, as a form's field sent twice is refused (:func:`sent_token`,
    ``workspace.formvalues``). Every coordinator page and every page and form of an
    inspector's assignment (:func:`_inspector`) reads its address through it."""
    given = Counter(name for name, _ in request.query_params.multi_items())
    twice = next((name for name, count in given.items() if count > 1), None)
    if twice is not None:
        name = twice if _PLAIN_NAME.fullmatch(twice) else ascii(twice[:40])
        raise PageRefused(400, TWICE_IN_ADDRESS.format(name=name, count=given[twice]))


def still_current(request: Request, visitor: Visitor) -> Callable[[DbSession], None]:
    """The check of the coordinator's token again, inside a write's own transaction
    (``api.tokens.still_current``); revoked or replaced since the page let the form in, the
    write is refused with the page :func:`coordinator_session` shows for such a token."""
    s = visitor.session
    check = tokens.still_current(s.subject, request.app.state.settings.bureau_code, s.binding)

    def in_page(db: DbSession) -> None:
        try:
            check(db)
        except tokens.CoordinatorRefused:
            raise PageRefused(401, COORDINATOR_REFUSED) from None

    return in_page


# why a link no longer opens its assignment (api.inspector_tokens.refusal, by its slug), as
# the inspector reads it; the API's own wording (English) is for API clients
LINK_REFUSALS = {
    "token-revoked": "您的任务链接已被撤销。如需继续填报，请联系{bureau}的协调员。",
    # a generation ended (notifications.generations): said to whoever holds it, naming nobody
    "token-replaced": "此链接已被作废并更换，不能再打开任何内容。新的链接已发送给该任务的检查人员；"
    "如果您就是该检查人员，请打开最近收到的新链接，否则请联系{bureau}的协调员。",
    "member-replaced": "您已被更换出本任务的检查组，不能再打开或填报这项任务。"
    "如有尚未交出的检查记录，请交给{bureau}的协调员。",
    "inspector-inactive": "您在检查员名录中已停用，不能再填报或签字。请联系{bureau}的协调员。",
    "token-expired": "此链接已过有效期（本轮结果的截止日期加宽限期之后）。如需更正结果，"
    "请联系{bureau}的协调员。",
    # an address not as our links write it (api.auth): the whole link, copied again, opens it
    "token-name-encoded": "链接地址被改动过（“token”一词被转码）。"
    "请从通知中完整复制链接后重新打开。",
    "token-repeated": "链接地址中有不止一个令牌。请从通知中完整复制链接后重新打开。",
    "token-missing": "链接地址中没有令牌。请从通知中完整复制链接后重新打开。",
    "token-malformed": "链接中的令牌不完整或有误。请从通知中完整复制链接后重新打开。",
}


def said(slug: str, detail: str, bureau: str) -> str:
    """A link refusal in Chinese; ``detail`` behind "链接已不可用" when its slug is not one
    of them ("" then if ``detail`` is empty)."""
    if slug in LINK_REFUSALS:
        return LINK_REFUSALS[slug].format(bureau=bureau)
    return f"链接已不可用：{detail}" if detail else ""


def coordinator_binding(token: str) -> str:
    """What ties a coordinator's session to the token it came from."""
    return tokens.token_hash(token)[:16]


# a coordinator's token on an inspector's link (``role-refused``: on the coordinator's link
# an inspector's token is no token at all, ``token-refused``, said by the hint)
COORDINATOR_ON_LINK = "这是协调员令牌，不能打开检查任务。协调员请用协调员令牌的链接进入工作台。"


def _link_refused(request: Request, exc: Problem, hint: str) -> PageRefused:
    """The API's refusal of a sign-in link's token, as its page says it, in Chinese only: the
    API's English detail was put in brackets behind the hint ("（a coordinator may not call
    this route (allowed: inspector)）")."""
    bureau = request.app.state.settings.bureau_name
    if exc.slug == "role-refused":
        return PageRefused(exc.status, COORDINATOR_ON_LINK, back="")
    # no 继续: it led to the link's address without its token, which said only 链接地址中没有
    # 令牌, 请从通知中完整复制链接 (the very link just refused); the message says what to do
    return PageRefused(exc.status, said(exc.slug, "", bureau) or f"{hint}。", back="")


def _link(role: Role, hint: str):  # type: ignore[no-untyped-def]
    """The API's own token check for a sign-in link (its address), its refusals shown as a
    page: what the link's GET checks before it shows what the link opens."""
    check = allow(role)

    def guard(request: Request) -> Principal:
        try:
            return check(request)
        except Problem as exc:
            raise _link_refused(request, exc, hint) from None

    setattr(guard, ROLES_ATTR, frozenset({role}))
    return guard


# Signing in takes two steps. A link's GET changes nothing: mail systems and chat apps fetch
# the links in messages to scan or preview them, and any page on the web can make a browser
# fetch one (an image, a link), so a GET that signed in recorded openings nobody made and let
# another site sign a browser into the site's own session (login CSRF). The GET shows what
# the link opens and a button whose form POSTs the token to the same address; that POST,
# refused from another origin before it gets here (``workspace.origins``), signs in.
SIGN_IN_FIELDS = 8  # the form sends one; a few more are no harm, a thousand are refused
TOKEN_TWICE = (
    "令牌（token）：{where}出现了不止一次，已拒绝，未登录。请重新打开通知中的链接（协调员："
    "协调员令牌链接），再点击页面上的按钮。"
)

TOKEN_UNREADABLE = (
    "登录表单无法读取（表单只应有一项令牌 token，不带文件），未登录。"
    "请重新打开链接，再点击页面上的按钮。"
)


@dataclass(frozen=True)
class SignIn:
    """Who a sign-in form's token is, and the token (a coordinator's session is bound to it)."""

    who: Principal
    token: str


async def sent_token(request: Request) -> str:
    """The token a sign-in form posts (its field ``token``), in the form alone: given twice
    (twice in the form, or in the form and the address) it is refused naming it (422), as
    the other forms refuse a field sent twice: which one counts is not the server's to guess.
    The body is bounded (``api.limits``' default; a few fields, no file); a form the parser
    refuses is a 400 page."""
    try:
        async with request.form(max_files=0, max_fields=SIGN_IN_FIELDS) as form:
            sent = form.getlist(QUERY_NAME)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        raise PageRefused(400, TOKEN_UNREADABLE) from None
    in_address = request.query_params.getlist(QUERY_NAME)  # its name however encoded
    if len(sent) + len(in_address) > 1:
        where = "表单和链接地址中都有，" if sent and in_address else "表单中"
        raise PageRefused(422, TOKEN_TWICE.format(where=where))
    value = sent[0] if sent else ""
    return value.strip() if isinstance(value, str) else ""  # a file in its place: none


def _form_link(role: Role, hint: str):  # type: ignore[no-untyped-def]
    """The token a sign-in form posts (:func:`sent_token`), checked exactly as the link's
    address is (``api.auth.admit``), its refusals the same pages."""
    wanted = frozenset({role})

    async def guard(request: Request) -> SignIn:
        token = await sent_token(request)
        try:
            who = await run_in_threadpool(admit, request, token, wanted)
        except Problem as exc:
            raise _link_refused(request, exc, hint) from None
        return SignIn(who, token)

    setattr(guard, ROLES_ATTR, wanted)
    return guard


INSPECTOR_HINT = "此链接不能打开这项任务，或已失效。请联系协调员"
COORDINATOR_HINT = "协调员令牌无效或已撤销"
inspector_link = _link(Role.inspector, INSPECTOR_HINT)
coordinator_link = _link(Role.coordinator, COORDINATOR_HINT)
inspector_form = _form_link(Role.inspector, INSPECTOR_HINT)
coordinator_form = _form_link(Role.coordinator, COORDINATOR_HINT)


async def check_csrf(request: Request, visitor: Visitor) -> None:
    """Refuse a form without this session's CSRF token (403). One from another origin never
    gets here (``workspace.origins``, before routing)."""
    form = await request.form()
    sent = form.get("csrf", "")
    if not isinstance(sent, str) or not form_token_ok(_secret(request), visitor.session, sent):
        raise PageRefused(403, "表单已过期或来源不明（缺少 CSRF 令牌）。请返回页面重新提交。")


setattr(inspector_session, ROLES_ATTR, frozenset({Role.inspector}))
setattr(inspector_post, ROLES_ATTR, frozenset({Role.inspector}))
setattr(coordinator_session, ROLES_ATTR, frozenset({Role.coordinator}))
