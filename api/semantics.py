"""HTTP semantics the framework leaves out (RFC 9110), for every route of the app.

* ``HEAD`` is answered as ``GET`` without the body (§9.3.2): :class:`AnswerHead` routes it as
  a ``GET`` and drops the body; :func:`sent_method` gives the method as the client sent it
  (a partner signs ``@method``: its ``HEAD``).
* A 405 carries ``Allow``, every method the target resource answers (§15.5.6): :func:`allow`.
* ``If-None-Match`` is compared weakly, a list of tags or ``*`` included (§13.1.2):
  :func:`none_match`.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SENT_METHOD = "shuangsui.sent_method"  # scope key: "HEAD" for a HEAD routed as a GET
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
STATIC = ("GET", "HEAD")  # what a mount answers: the documentation's static files (api.docs)
TAG = re.compile(r'(?:W/)?("[^"]*")')  # an entity tag (RFC 9110 §8.8.3); group: its opaque part


class AnswerHead:
    """Wrap an ASGI app so a ``HEAD`` reaches the ``GET`` route and is answered without a body
    (its headers, ``Content-Length`` included, as for the ``GET``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headless(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET", SENT_METHOD: "HEAD"}, receive, headless)


def sent_method(request: Request) -> str:
    """The request's method as the client sent it (``HEAD`` for one :class:`AnswerHead` routes
    as a ``GET``)."""
    return str(request.scope.get(SENT_METHOD, request.method))


def allow(request: Request) -> str:
    """The ``Allow`` value for a 405 on the request's path: every method a route of the app
    answers there, ``HEAD`` with ``GET``."""
    found: set[str] = set()
    scope = request.scope  # inside a mount, root_path is the mount's; app_root_path the app's
    root = scope.get("app_root_path", scope.get("root_path", ""))
    for method in METHODS:
        probe = {"type": "http", "path": scope["path"], "root_path": root, "method": method}
        for route in request.app.router.routes:
            if route.matches(probe)[0] == Match.FULL:
                found.update(STATIC if isinstance(route, Mount) else (method,))
    if "GET" in found:
        found.add("HEAD")
    return ", ".join(m for m in ("GET", "HEAD", *METHODS[1:]) if m in found)


def none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match: header`` matches the current ``etag`` (a strong tag ``"…"``):
    ``*``, or any listed tag whose opaque part equals it, ``W/`` or not (weak comparison)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return etag.removeprefix("W/") in TAG.findall(header)
