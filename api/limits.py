"""What one request can make the server hold: its body (:class:`LimitBodies`, an ASGI
middleware outside routing and authentication). What one connection can hold is bounded in
:mod:`api.connections`.

* A ``Content-Length`` past the route's limit is answered ``413`` at once, its body unread.
* A streamed (chunked) body is read whole before the route runs and answered ``413`` as it
  passes the limit, so no route runs with one, whether it reads its body or not. The routes
  with a larger limit of their own (evidence, photos, imports) stream their body to disk: there
  it is counted as the route reads it instead, and cut off with ``413`` at the limit. The
  inspector's findings form (``/w/a/...``) has a ceiling, four times the photos' limit: below
  it the route reads the body through and stores at most the photos' limit of its files
  (``workspace.photo_form``); past it the body is cut off as any other.
* An answer sent before the end of its request's body was received (a ``413``, a refusal before
  the body is read) closes the connection (``Connection: close``): uvicorn then reads no more.

Limits: ``SHUANGSUI_API_MAX_BODY_BYTES`` for every route (JSON, 1 MiB by default) and a larger
one for the routes given by path (evidence uploads: ``SHUANGSUI_EVIDENCE_MAX_BYTES``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The request's ``Content-Length`` (None if absent) and whether its body is streamed."""
    length, streamed = None, False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:  # the server refuses a malformed length before we see it
                pass
        elif name == b"transfer-encoding":
            streamed = True
    return length, streamed


class _Body:
    """One request's body as the app receives it: counted against ``limit``, and ``ended`` once
    its last part was received (at once for a request without a body)."""

    def __init__(self, receive: Receive, limit: int, *, expected: bool) -> None:
        self._receive = receive
        self.limit = limit
        self.received = 0
        self.ended = not expected
        self._held: list[Message] = []  # read ahead, for the app's first calls

    async def _next(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise BodyTooLarge(self.limit)
            self.ended = not message.get("more_body", False)
        return message

    async def read_ahead(self) -> bool:
        """Read the whole body now (the app gets it from :meth:`receive`); False as soon as it
        passes the limit. A disconnect on the way is handed on after the part that came."""
        parts: list[bytes] = []
        try:
            while not self.ended:
                message = await self._next()
                if message["type"] != "http.request":
                    self._held.append(message)
                    break
                parts.append(message.get("body", b""))
        except BodyTooLarge:
            return False
        body = {"type": "http.request", "body": b"".join(parts), "more_body": not self.ended}
        self._held.insert(0, body)
        return True

    async def receive(self) -> Message:
        return self._held.pop(0) if self._held else await self._next()


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
        length, streamed = _framing(scope)
        if length is not None and length > limit:
            await _refusal(scope, limit)(scope, receive, send)
            return
        body = _Body(receive, limit, expected=streamed or bool(length))
        if streamed and limit <= self.limits.default and not await body.read_ahead():
            await _refusal(scope, limit)(scope, receive, send)
            return
        started = False

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not body.ended:  # the server must not read on: close after the answer
                    message = {**message, "headers": _with_close(message.get("headers", ()))}
            await send(message)

        try:
            await self.app(scope, body.receive, closing_send)
        except BodyTooLarge:
            if started:  # pragma: no cover - an app that answered before reading its body
                raise
            await _refusal(scope, limit)(scope, receive, send)


def _with_close(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(name, value) for name, value in headers if name.lower() != b"connection"]
    return [*kept, (b"connection", b"close")]


def _refusal(scope: Scope, limit: int) -> Response:
    """413: a page on a workspace path (``api.problems.error_page``), else a problem document;
    either way the connection is closed (the body was not read)."""
    page = error_page(scope.get("app"), scope, 413)
    if page is None:
        return too_large_response(limit)
    page.headers.update(CLOSE)
    return page
