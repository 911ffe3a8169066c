"""What one connection can make ``shuangsui serve`` hold, where uvicorn does not bound it:
a request head's time (:class:`BoundedH11`), the number of connections, and the log of a
process out of file descriptors (:class:`QuietAcceptErrors`, :func:`event_loop`); and one
way only for a request to say where its body ends (:class:`OneFraming`). Request bodies are
bounded in :mod:`api.limits`.

``shuangsui serve`` runs uvicorn with them (``api/cli.py``; docs/operations.md, "Hostile
requests").
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE, H11Protocol

logger = logging.getLogger(__name__)

# connections asyncio accepts at a time (uvicorn's ``backlog``; 8,000 at once held 647 sockets)
ACCEPT_BATCH = 64


class OneFraming(h11.Connection):
    """h11's server side, refusing a request that says where its body ends twice, by
    ``Transfer-Encoding`` and by ``Content-Length``. h11 reads such a body as chunked and
    keeps the connection; a proxy in front that goes by the length reads another request
    there (request smuggling: a ``GET`` hidden in a ``POST``'s body was answered as a request
    of its own). RFC 9112, 6.1: such a request is an error, and the connection is closed
    after the answer; uvicorn answers h11's protocol errors 400 and closes."""

    def next_event(self) -> Any:
        event = super().next_event()
        if isinstance(event, h11.Request):
            names = {name.lower() for name, _ in event.headers}
            if b"transfer-encoding" in names and b"content-length" in names:
                raise h11.RemoteProtocolError(
                    "both Transfer-Encoding and Content-Length", error_status_hint=400
                )
        return event


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
      ``limit_concurrency`` sockets and a few batches more (:func:`files_needed`);
    * :class:`OneFraming` for its h11 connection.
    """

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        most = self.config.h11_max_incomplete_event_size
        self.conn = OneFraming(h11.SERVER, most or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE)

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
    """The loop ``shuangsui serve`` runs on (``uvicorn.run(loop="api.connections:event_loop")``):
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
