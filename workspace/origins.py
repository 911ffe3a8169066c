"""Where a workspace form came from, and what every workspace answer says about itself.

One ASGI middleware for the paths under ``/w`` (:class:`Fences`), outside routing, the
sessions and the body limits, so a request it refuses is refused before a byte of its body is
read (a cross-site upload of 25 MiB included) and whatever route it was meant for:

* **Origin** (OWASP CSRF cheat sheet, "Verifying origin with standard headers"): a request
  that may change something (any method but GET, HEAD and OPTIONS) whose ``Origin`` names
  another origin than the site's own is refused with 403, and so is ``Origin: null`` (a
  sandboxed frame, a page whose referrer policy hides it). Without ``Origin``, its ``Referer``
  is checked the same way; with neither (old clients, scripts) the session's CSRF token alone
  decides (``workspace.guards.check_csrf``). A header given twice is refused.
* **A sign-in** (:func:`signs_in`: the link page's button, ``POST /w/open/{round}/{enterprise}``
  and ``POST /w/c/open``) has no session, so no CSRF token to decide: with neither header it
  is refused too. A browser posting the page's own form sends one (``Referrer-Policy:
  same-origin`` keeps the ``Referer`` for our own pages); an API client sends its token as
  ``Authorization: Bearer`` and never posts this form.
* **The site's own origin** (:func:`own_origin`): ``SHUANGSUI_PUBLIC_BASE_URL`` when it is
  configured (the address the notices' links carry: behind the bureau's TLS proxy the request's
  own Host may be the proxy's upstream, ``127.0.0.1:8350``); else the request's own scheme,
  host and port (the loopback demo, the tests).
* **Headers** on every answer under ``/w``: ``Cache-Control: no-store`` (but the stylesheet's
  own), ``Referrer-Policy: same-origin`` (``no-referrer`` made browsers send ``Origin: null``
  on our own forms), ``X-Frame-Options: DENY`` and a CSP ``frame-ancestors 'none'`` where the
  answer has no such directive, ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shuangsui.config import Settings

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}
STATIC = "/w/static/"  # the stylesheet keeps its own Cache-Control
FRAMING = "frame-ancestors 'none'"

FOREIGN = "表单来自其他网站（请求头 {header} 指向的不是本系统的地址），已拒绝，未作任何更改。"
HIDDEN = "表单的来源被隐藏（请求头 Origin 为 null），已拒绝，未作任何更改。"
UNSAID = (
    "登录请求没有注明来源（请求头 Origin 和 Referer 都没有），无法确认是从本系统的页面提交的，"
    "已拒绝，未作任何更改。"
)
SIGN_IN_AGAIN = (
    "请重新打开链接，再点击页面上的按钮；如果仍被拒绝，请检查浏览器是否禁止发送来源信息。"
)
TWICE = "请求头 {header} 出现了不止一次，已拒绝，未作任何更改。"
AGAIN = "请从本系统的页面重新打开后再提交。"
# our own server, reached at another address than the configured one (an intranet name, an IP)
ELSEWHERE = (
    "此页面是通过 {here} 打开的，不是本系统配置的地址，表单已拒绝，未作任何更改。"
    "请从 {own} 打开本系统后再提交（通知中的链接就是这个地址）。"
)


SIGN_IN_PAGES = ("/w/open/", "/w/c/open")  # the inspector's links (a prefix), the coordinator's


def under_workspace(path: str) -> bool:
    return path == "/w" or path.startswith("/w/")


def signs_in(path: str) -> bool:
    """Whether a POST to ``path`` is a sign-in form's (a link page's button)."""
    inspectors, coordinators = SIGN_IN_PAGES
    return path.startswith(inspectors) or path.rstrip("/") == coordinators


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) address, as a browser writes an
    ``Origin``: lower case, the host in ASCII (IDNA), no default port; None for anything else
    (``null``, a path alone, a malformed address)."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, UnicodeError):
        return None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.raw_host:
        return None
    host = parsed.raw_host.decode("ascii").lower()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return None
    default = DEFAULT_PORTS[parsed.scheme]
    port = "" if parsed.port in (None, default) else f":{parsed.port}"
    return f"{parsed.scheme}://{host}{port}"


def own_origin(settings: Settings, scope: Scope) -> str | None:
    """The site's own origin: the configured public address, else the request's own."""
    if "public_base_url" in settings.model_fields_set:  # set in the environment
        return origin_of(settings.public_base_url)
    return request_origin(scope)


def request_origin(scope: Scope) -> str | None:
    """The request's own scheme, ``Host`` (else the server's address) and port."""
    host = Headers(scope=scope).get("host")
    if host is None and scope.get("server"):
        name, port = scope["server"]
        host = f"{name}:{port}"
    return origin_of(f"{scope.get('scheme', 'http')}://{host}") if host else None


def refusal(
    headers: Headers, own: str | None, here: str | None = None, *, sign_in: bool = False
) -> str | None:
    """Why a state-changing request with these headers is refused, in Chinese; None when it
    may go on to its route (whose CSRF check then decides). ``here``: the request's own
    origin, when ``own`` is the configured one: a form of our own pages opened at another
    address is refused too, saying which address to use. ``sign_in``: a sign-in form, which
    has no CSRF token to decide, is refused with neither header."""
    for name in ("origin", "referer"):
        sent = headers.getlist(name)
        if not sent:
            continue
        label = "Origin" if name == "origin" else "Referer"
        if len(sent) > 1:
            return TWICE.format(header=label) + AGAIN
        if name == "origin" and sent[0].strip().lower() == "null":
            return HIDDEN + AGAIN
        came = origin_of(sent[0])
        if own is not None and came is not None and came == here != own:
            return ELSEWHERE.format(here=here, own=own)
        if own is None or came != own:
            return FOREIGN.format(header=label) + AGAIN
        return None
    return UNSAID + SIGN_IN_AGAIN if sign_in else None


def _with_headers(raw: list[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
    """``raw`` with the headers every workspace answer carries (see the module)."""
    mine = {b"referrer-policy", b"x-frame-options", b"x-content-type-options"}
    if not path.startswith(STATIC):
        mine.add(b"cache-control")
    kept = [(k, v) for k, v in raw if k.lower() not in mine]
    kept += [
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if b"cache-control" in mine or not any(k.lower() == b"cache-control" for k, _ in kept):
        kept.append((b"cache-control", b"no-store"))
    policies = [i for i, (k, _) in enumerate(kept) if k.lower() == b"content-security-policy"]
    if not policies:
        kept.append((b"content-security-policy", FRAMING.encode()))
    for i in policies:
        name, value = kept[i]
        if b"frame-ancestors" not in value:
            kept[i] = (name, value.rstrip(b"; ") + b"; " + FRAMING.encode())
    return kept


class Fences:
    """The workspace's origin check and answer headers (see the module); ``page`` makes the
    refusal page (status, message, the request's scope)."""

    def __init__(self, app: ASGIApp, page: Callable[[int, str, Scope], Response]) -> None:
        self.app = app
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not under_workspace(scope["path"]):
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def fenced_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_headers(list(message["headers"]), path)}
            await send(message)

        if scope["method"] not in SAFE_METHODS:
            settings = scope["app"].state.settings
            own, here = own_origin(settings, scope), request_origin(scope)
            refused = refusal(Headers(scope=scope), own, here, sign_in=signs_in(path))
            if refused is not None:
                logger.warning("workspace %s refused: %s", scope["method"], refused)
                answer = self.page(403, refused, scope)
                answer.headers["connection"] = "close"  # its body is never read
                await answer(scope, receive, fenced_send)
                return
        await self.app(scope, receive, fenced_send)
