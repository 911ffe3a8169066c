"""Workspace sessions: a signed cookie naming who, for what, until when.

A link's token is exchanged for a session when its page's button is pressed (a POST: the
link's GET changes nothing, ``workspace.guards``), so the token leaves the address bar. The
session is an HMAC-SHA256 (key derived from ``SHUANGSUI_SECRET_KEY``) over a compact payload
with its expiry; nothing is stored. That is enough because the cookie only says *who*: every
request checks again against the database whether they still may (an inspector's link
revoked, the inspector inactive, the round's links expired; a coordinator token revoked or
replaced), so revoking in the database ends the session at its next request. A table would
add a migration and a write per sign-in for nothing the database does not already say. 退出
(``workspace.signout``) clears the cookie in this browser; a copy of its value still works
until its expiry, as revoking in the database ends it everywhere.

CSRF: each session carries a random nonce; its form token is an HMAC of that nonce, sent in a
hidden field and compared on every POST. Cookies are ``SameSite=Strict`` as a second fence (and
over TLS ``__Host-`` ones, which no other host or path can set: :func:`cookie`), and
a POST from another origin is refused before it gets here (``workspace.origins``: a page on
another port or a sibling host is the same *site*, and its forms carry the cookie).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Request
from starlette.requests import cookie_parser
from starlette.responses import Response

INSPECTOR_COOKIE = "ssw_a"
COORDINATOR_COOKIE = "ssw_c"
COORDINATOR_PAGES = "/w/c"  # the coordinator's pages (their cookie's Path on http)
HOST_PREFIX = "__Host-"  # Secure, Path=/, no Domain: no other host or path can set it
LIFETIME_SECONDS = 12 * 3600  # a working day; the link opens a new one
ASSIGNMENTS_KEPT = 20  # over TLS, the assignment sessions a browser keeps (set_inspector_cookie)
_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{43}")  # unpadded base64url body.mac


@dataclass(frozen=True)
class Session:
    kind: str  # "inspector" | "coordinator"
    subject: str  # inspector id, or coordinator name
    round_key: str = ""
    credit_code: str = ""
    binding: str = ""  # coordinator: a prefix of the token's hash (a new token ends it)
    nonce: str = ""
    expires: int = 0


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"shuangsui-workspace-session-v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: str, session: Session, now: float | None = None) -> tuple[str, Session]:
    """The cookie value of a new session (fresh nonce, expiry from now) and the session."""
    now = time.time() if now is None else now
    fresh = Session(
        session.kind,
        session.subject,
        session.round_key,
        session.credit_code,
        session.binding,
        secrets.token_urlsafe(16),
        int(now) + LIFETIME_SECONDS,
    )
    fields = [fresh.kind, fresh.subject, fresh.round_key, fresh.credit_code, fresh.binding]
    body = json.dumps([*fields, fresh.nonce, fresh.expires], separators=(",", ":")).encode()
    mac = hmac.new(_key(secret), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}", fresh


def read(secret: str, value: str, now: float | None = None) -> Session | None:
    """The session a cookie value carries, or None when forged, malformed or expired."""
    if _SHAPE.fullmatch(value) is None:
        return None
    body_text, _, mac_text = value.partition(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, UnicodeEncodeError):
        return None
    if not hmac.compare_digest(hmac.new(_key(secret), body, hashlib.sha256).digest(), mac):
        return None
    kind, subject, round_key, credit_code, binding, nonce, expires = json.loads(body)
    if (time.time() if now is None else now) > expires:
        return None
    return Session(kind, subject, round_key, credit_code, binding, nonce, int(expires))


def _sent(request: Request) -> Iterator[tuple[str, str]]:
    """Each cookie the browser sent, name and value, in the order sent, a name sent twice
    twice (``request.cookies`` keeps only the last)."""
    for header in request.headers.getlist("cookie"):
        for pair in header.split(";"):
            yield from cookie_parser(pair).items()


def cookie_values(request: Request, name: str) -> list[str]:
    """Every value the browser sent for the cookie ``name``, in the order sent, each once.
    ``request.cookies`` keeps only the last of a name sent twice, and a browser sends two when
    it holds two (ours, and one another host of the domain set with ``Domain=``, or one with
    another ``Path`` that also covers the page): which of them is ours the header does not say
    (``workspace.guards.sent_sessions`` decides)."""
    values: list[str] = []
    for key, value in _sent(request):
        if key == name and value and value not in values:
            values.append(value)
    return values


def csrf_token(secret: str, session: Session) -> str:
    return hmac.new(_key(secret), f"csrf:{session.nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, session: Session, sent: str) -> bool:
    expected = csrf_token(secret, session).encode()
    return hmac.compare_digest(expected, sent.encode("utf-8", "surrogateescape"))


def secure_request(request: Request) -> bool:
    """Whether the session cookie is ``Secure`` (sent back over TLS only): the request came
    over TLS, directly or through a proxy that uvicorn trusts (its ``--forwarded-allow-ips`` /
    ``FORWARDED_ALLOW_IPS``, loopback by default) saying so in ``X-Forwarded-Proto`` (uvicorn
    sets the scheme, and ignores the header from anyone else); or the server's public address
    (``SHUANGSUI_PUBLIC_BASE_URL``, the one its links carry) is https, so behind the bureau's
    TLS proxy the cookie is Secure even when the proxy does not say so. The loopback demo and
    the tests (http) keep a cookie a browser would not send back otherwise."""
    public = str(request.app.state.settings.public_base_url).strip().lower()
    return request.url.scheme == "https" or public.startswith("https://")


@dataclass(frozen=True)
class Cookie:
    """The name, Path and ``Secure`` of a session cookie, as it is set, read and cleared."""

    name: str
    path: str
    secure: bool


def cookie(request: Request, name: str, pages: str) -> Cookie:
    """The session cookie ``name`` (``COORDINATOR_COOKIE``, ``INSPECTOR_COOKIE``) for the
    pages under ``pages`` (``/w/c``, an assignment's page), as this request's connection
    allows. On plain http (the loopback demo, the tests) it is ``name`` with ``Path=pages``.
    Over TLS (:func:`secure_request`) it is a ``__Host-`` cookie: ``Secure``, ``Path=/``, no
    ``Domain``, which the browser takes only from this host over https; so no sibling host of
    the bureau's domain (``Domain=``) and no page on another path can put a cookie of its name
    beside ours (docs/security.md, "A session cookie sent twice"). ``Path=/`` then scopes
    nothing, so an inspector's cookie is named for its assignment (a digest of its page's
    path): one per assignment, as the path kept them apart on http. Each is read under the
    one name its request's connection gives; a session set under the other is not sent."""
    if not secure_request(request):
        return Cookie(name, pages, secure=False)
    if name == INSPECTOR_COOKIE:
        name = f"{name}_{hashlib.sha256(pages.encode()).hexdigest()[:16]}"
    return Cookie(HOST_PREFIX + name, "/", secure=True)


def set_cookie(response: Response, made: Cookie, value: str) -> None:
    """A session cookie in the browser's sense too: no ``Max-Age``, so it ends when the
    browser closes (on a shared office computer, the next person does not find it). Chromium
    may restore such cookies with "continue where you left off": the expiry signed inside
    (``LIFETIME_SECONDS``) still ends the session after a working day."""
    response.set_cookie(made.name, value, path=made.path, httponly=True, samesite="strict",
                        secure=made.secure)  # fmt: skip


def set_inspector_cookie(request: Request, response: Response, pages: str, value: str,
                         secret: str, now: float | None = None) -> None:  # fmt: skip
    """An inspector's session for the assignment page ``pages``. Over TLS each assignment's
    ``__Host-`` cookie has ``Path=/`` (:func:`cookie`), so the browser sends every one it
    holds with every request to this host, and one left open keeps them until it closes (a
    phone's, for months): an inspector opening each month's links would in the end send more
    than a request's head may hold (16 KiB, about 70 of them), and every page would be refused
    (431). So this sign-in also drops, of the browser's other assignment cookies, those that
    open nothing any more (expired, or not ours) and, past the newest ``ASSIGNMENTS_KEPT - 1``
    that still do, the oldest (that assignment's link opens it again). On http each cookie is
    sent on its own page only, and nothing else is touched."""
    made = cookie(request, INSPECTOR_COOKIE, pages)
    set_cookie(response, made, value)
    if not made.secure:
        return
    ours = f"{HOST_PREFIX}{INSPECTOR_COOKIE}_"  # each assignment's, named for it
    others = {n: v for n, v in _sent(request) if n.startswith(ours) and n != made.name}
    live: list[tuple[int, str]] = []
    for name, held in others.items():
        session = read(secret, held, now)
        if session is None:
            clear_cookie(response, Cookie(name, "/", secure=True))
        else:
            live.append((session.expires, name))
    for _, name in sorted(live, reverse=True)[ASSIGNMENTS_KEPT - 1 :]:
        clear_cookie(response, Cookie(name, "/", secure=True))


def clear_cookie(response: Response, made: Cookie) -> None:
    """退出: the cookie ``set_cookie`` made, with the same name, Path and flags, now
    ``Max-Age=0`` (a browser drops a cookie only when all of these match). The value is
    stateless: a copy taken before still opens the pages until its signed expiry."""
    response.delete_cookie(made.name, path=made.path, httponly=True, samesite="strict",
                           secure=made.secure)  # fmt: skip
