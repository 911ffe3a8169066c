"""What one client can make the server hold: request bodies (:class:`LimitBodies`, an ASGI
middleware outside routing and authentication) and, under ``shuangsui serve``, connections
(:class:`BoundedH11`, :func:`event_loop`: what uvicorn lacks).

* A ``Content-Length`` past the route's limit is answered ``413`` at once, its body unread.
* A streamed (chunked) body is read whole before the route runs and answered ``413`` as it
  passes the limit, so no route runs with one, whether it reads its body or not. The routes
  with a larger limit of their own (evidence, photos, imports) stream their body to disk: there
  it is counted as the route reads it instead, and cut off with ``413`` at the limit.
* An answer sent before the end of its request's body was received (a ``413``, a refusal before
  the body is read) closes the connection (``Connection: close``): uvicorn then reads no more.

Limits: ``SHUANGSUI_API_MAX_BODY_BYTES`` for every route (JSON, 1 MiB by default) and a larger
one for the routes given by path (evidence uploads: ``SHUANGSUI_EVIDENCE_MAX_BYTES``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
from collections.abc import Iterable, Mapping
from typing import Any

import h11
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.problems import error_page, problem_response

logger = logging.getLogger(__name__)

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
    page = error_page(scope.get("app"), scope["path"], 413)
    if page is None:
        return too_large_response(limit)
    page.headers.update(CLOSE)
    return page


# connections asyncio accepts at a time (uvicorn's ``backlog``; 8,000 at once held 647 sockets)
ACCEPT_BATCH = 64


class BoundedH11(H11Protocol):
    """uvicorn's h11 protocol (``uvicorn.run(http=BoundedH11.with_header_timeout(s))``) with:

    * a deadline for each request's head (line and headers): whole within ``header_timeout``
      seconds of the connection's opening or of the previous answer, or the connection is
      closed. uvicorn has none (its keep-alive timer runs only between requests, and any byte
      stops it): a client sending nothing, or a header line every few seconds, stayed for ever;
    * a ceiling: a connection opened while twice ``limit_concurrency`` are open is closed at
      once (uvicorn answers ``503`` past ``limit_concurrency``, but only to a whole head, and
      accepts on). asyncio accepts ``backlog`` connections at a time before any reaches this
      class, so run it with ``backlog=ACCEPT_BATCH``: a flood then holds about twice
      ``limit_concurrency`` sockets and a few batches more (:func:`files_needed`).
    """

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    @classmethod
    def with_header_timeout(cls, seconds: float) -> type[BoundedH11]:
        return type(cls.__name__, (cls,), {"header_timeout": seconds})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        most = self.config.limit_concurrency
        if most is not None and len(self.connections) > 2 * most:
            self.transport.close()
            return
        self._await_header()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a head is whole: the app has the request
            self._stop_header_timer()
        elif self._header_timer is None:  # waiting for the next head (a body was drained)
            self._await_header()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._await_header()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _await_header(self) -> None:
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


ACCEPT_ERROR = "socket.accept() out of system resource"


class QuietAcceptErrors:
    """An event loop's exception handler. Out of file descriptors, asyncio reports the failed
    ``accept`` up to ``backlog`` times on every try, each with its traceback: hundreds of
    megabytes of log a minute. This passes the first report of each ``interval`` seconds on,
    with how many were left out before it; other reports go to the default handler as before."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.left_out = 0
        self._quiet_until = -math.inf

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_ERROR:
            loop.default_exception_handler(context)
            return
        if loop.time() < self._quiet_until:
            self.left_out += 1
            return
        self._quiet_until = loop.time() + self.interval
        if self.left_out:
            left = f"{self.left_out} more since the last one not logged"
            context = {**context, "message": f"{ACCEPT_ERROR} ({left})"}
            self.left_out = 0
        loop.default_exception_handler(context)


def event_loop() -> asyncio.AbstractEventLoop:
    """The loop ``shuangsui serve`` runs on (``uvicorn.run(loop="api.limits:event_loop")``):
    asyncio's, with :class:`QuietAcceptErrors`."""
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(QuietAcceptErrors())
    return loop


def files_needed(max_connections: int) -> int:
    """The open-file limit ``serve`` needs: the sockets :class:`BoundedH11` may hold, and room
    for the database, logs and uploads."""
    return 2 * max_connections + 4 * ACCEPT_BATCH + 128


def warn_if_few_files(max_connections: int) -> None:
    """Log a warning when the open-file limit (``ulimit -n``) is under :func:`files_needed`."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < (needed := files_needed(max_connections)):
        logger.warning(
            "the open-file limit (ulimit -n) is %d, under the %d that "
            "SHUANGSUI_SERVE_MAX_CONNECTIONS=%d needs: raise it, or lower the setting",
            soft,
            needed,
            max_connections,
        )
