"""Request bodies are bounded before anything reads them: a pure ASGI middleware.

It runs outside routing and authentication, so an anonymous caller cannot make the server hold
a large body. A request whose ``Content-Length`` passes its route's limit is answered ``413`` at
once, its body unread; a body without one (chunked) is counted as it arrives and cut off with
``413`` when it passes the limit. Either way the connection is closed after the answer, so the
rest of the body is never read.

Limits: ``SHUANGSUI_API_MAX_BODY_BYTES`` for every route (JSON, 1 MiB by default) and a larger
one for the routes given by path (evidence uploads: ``SHUANGSUI_EVIDENCE_MAX_BYTES``).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import error_page, problem_response

CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit. An HTTPException, so the
    framework lets it through the code that reads the body instead of calling it a bad body."""

    def __init__(self, limit: int):
        super().__init__(413, _detail(limit), headers=CLOSE)
        self.limit = limit


def _detail(limit: int) -> str:
    return f"the request body is larger than {limit} bytes, the limit of this route"


def too_large_response(limit: int) -> Response:
    return problem_response(413, _detail(limit), "body-too-large", CLOSE, limit=limit)


async def handle_too_large(request: Request, exc: Exception) -> Response:
    """The exception handler for :class:`BodyTooLarge` (install with ``add_exception_handler``)."""
    assert isinstance(exc, BodyTooLarge)
    return _refusal(request.scope, exc.limit)


class BodyLimits:
    """``default`` bytes for every route; ``routes`` maps route paths (``/a/{b}/c``) to theirs."""

    def __init__(self, default: int, routes: Mapping[str, int] | None = None):
        self.default = default
        self._routes = [(compile_path(path)[0], limit) for path, limit in (routes or {}).items()]

    def for_path(self, path: str) -> int:
        return next((limit for regex, limit in self._routes if regex.match(path)), self.default)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server refuses a malformed length before we see it
                return None
    return None


class LimitBodies:
    """Wrap an ASGI app so no request body passes the limit of its path."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        length = _content_length(scope)
        if length is not None and length > limit:
            await _refusal(scope, limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:  # pragma: no cover - an app that answered before reading its body
                raise
            await _refusal(scope, limit)(scope, receive, send)


def _refusal(scope: Scope, limit: int) -> Response:
    """413: a page on a workspace path (``api.problems.error_page``), else a problem document;
    either way the connection is closed (the body was not read)."""
    page = error_page(scope.get("app"), scope["path"], 413)
    if page is None:
        return too_large_response(limit)
    page.headers.update(CLOSE)
    return page
