"""What one connection can make ``shuangsui serve`` hold, where uvicorn does not bound it:
a request head's time and a body's pauses (:class:`BoundedH11`), the number of connections,
and the log of a
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
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE, H11Protocol

logger = logging.getLogger(__name__)

# connections asyncio accepts at a time (uvicorn's ``backlog``; 8,000 at once held 647 sockets)
ACCEPT_BATCH = 64
# seconds a refused request's connection reads on (and drops) what its client still sends,
# after the answer, before it is closed (a lingering close, as nginx's ``lingering_time``)
LINGER_SECONDS = 2.0
# once the server is told to stop: seconds a request body may pause before its connection is
# closed (the body's silence timer, shortened), and seconds a connection has in all to end
STOP_SILENCE = 1.0
STOP_MOST = 5.0


class OneFraming(h11.Connection):
    """h11's server side, refusing

    * a request that says where its body ends twice, by ``Transfer-Encoding`` and by
      ``Content-Length``. h11 reads such a body as chunked and keeps the connection; a proxy
      in front that goes by the length reads another request there (request smuggling: a
      ``GET`` hidden in a ``POST``'s body was answered as a request of its own). RFC 9112,
      6.1: such a request is an error, and the connection is closed after the answer;
    * a request head (line and headers) over ``max_incomplete_event_size`` bytes, however it
      arrives. h11 bounds only a head still incomplete, so a 100 KB path read in one piece was
      answered and the same path read in two was refused: which one depended on the network.

    ``refusal`` keeps the last error, for its status (431 for a head too large)."""

    refusal: h11.RemoteProtocolError | None = None

    def __init__(self, our_role: type[h11.SERVER], head_limit: int) -> None:
        super().__init__(our_role, head_limit)
        self.head_limit = head_limit

    def next_event(self) -> Any:
        try:
            event = super().next_event()
            if isinstance(event, h11.Request):
                _check_request(event, self.head_limit)
        except h11.RemoteProtocolError as refused:
            self.refusal = refused
            raise
        return event


def _check_request(request: h11.Request, most: int) -> None:
    names = {name.lower() for name, _ in request.headers}
    if b"transfer-encoding" in names and b"content-length" in names:
        raise h11.RemoteProtocolError(
            "both Transfer-Encoding and Content-Length", error_status_hint=400
        )
    # the head's bytes as sent, but for optional whitespace h11 has dropped
    size = len(request.method) + len(request.target) + len(b"  HTTP/1.1\r\n\r\n")
    size += sum(len(name) + len(value) + len(b": \r\n") for name, value in request.headers)
    if size > most:
        raise h11.RemoteProtocolError(f"request head over {most} bytes", error_status_hint=431)


class BoundedH11(H11Protocol):
    """uvicorn's h11 protocol (``uvicorn.run(http=BoundedH11.with_timeouts(head, body))``) with:

    * a deadline for each request's head (line and headers): whole within ``header_timeout``
      seconds of the connection's opening or of the previous answer, or the connection is
      closed. uvicorn has none (its keep-alive timer runs only between requests, and any byte
      stops it): a client sending nothing, or a header line every few seconds, stayed for ever;
    * a pause in a request's body: no byte of it for ``body_timeout`` seconds while the server
      reads, and the connection is closed (the route then sees the client gone). uvicorn has
      no timer between reads: a body that stopped (a phone out of coverage that never said so,
      a chunk size larger than what follows) held its connection, and its place under
      ``limit_concurrency``, for ever. A slow body is not cut, however slow: only a silence
      (the server not reading, or waiting to send ``100 Continue``, is not the client's).
      Likewise the answer: the client taking none of it for ``body_timeout`` seconds while
      the server waits to write (:meth:`pause_writing`: the buffers full), and the
      connection is dropped; uvicorn waited for ever;
    * a ceiling: a connection opened while twice ``limit_concurrency`` are open is closed at
      once (uvicorn answers ``503`` past ``limit_concurrency``, but only to a whole head, and
      accepts on). asyncio accepts ``backlog`` connections at a time before any reaches this
      class, so run it with ``backlog=ACCEPT_BATCH``: a flood then holds about twice
      ``limit_concurrency`` sockets and a few batches more (:func:`files_needed`);
    * :class:`OneFraming` for its h11 connection;
    * a lingering close after a refusal (:meth:`send_400_response`): uvicorn closed at once,
      with the rest of a large request still unread, and the kernel then resets the
      connection, which can drop the answer before the client reads it (RFC 9112, 9.6);
    * a prompt stop (:meth:`shutdown`): uvicorn, told to stop, waits for each request in
      progress to end, and one whose body had stopped arriving held the stop until the
      body's timer (two minutes), one whose client did not read its answer for ever. Once
      told to stop, a body that pauses ``STOP_SILENCE`` seconds has its connection closed,
      and a connection still open ``STOP_MOST`` seconds after the stop is dropped; a body
      still arriving is read whole and answered, as is every request whose body has
      arrived. A request being handled runs to its end either way (its task is not
      cancelled): only an answer nobody reads is lost.
    """

    header_timeout: float = 10.0
    body_timeout: float = 120.0
    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _write_timer: asyncio.TimerHandle | None = None
    _lingering = False
    _stopping = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        most = self.config.h11_max_incomplete_event_size
        self.framing = OneFraming(h11.SERVER, most or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE)
        self.conn = self.framing

    @classmethod
    def with_timeouts(cls, header: float, body: float) -> type[BoundedH11]:
        return type(cls.__name__, (cls,), {"header_timeout": header, "body_timeout": body})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        most = self.config.limit_concurrency
        if most is not None and len(self.connections) > 2 * most:
            self.transport.close()
            return
        self._await_header()

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # answered and closing: what the client still sends is dropped
            return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a head is whole: the app has the request
            self._stop_header_timer()
        elif self._header_timer is None:  # waiting for the next head (a body was drained)
            self._await_header()
        self._await_body()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._await_header()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 refused (400, or the status h11 gives, such as
        431), then a lingering close: the sending side is shut, what the client still sends
        is read and dropped until it closes or ``LINGER_SECONDS`` pass, and only then is the
        connection closed."""
        refusal = self.framing.refusal
        status = refusal.error_status_hint if refusal is not None else 400
        if status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:  # h11's own says "buffer"
            said = f"request head over {self.framing.head_limit} bytes"
        else:
            said = str(refusal or "") or msg
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        reason = HTTPStatus(status).phrase.encode("ascii")
        for event in (
            h11.Response(status_code=status, headers=headers, reason=reason),
            h11.Data(data=f"{said}\n".encode("ascii", "replace")),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self._stop_header_timer()
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def shutdown(self) -> None:
        """The server is told to stop: uvicorn's (an idle connection closed, one in a
        request closed after its answer), a body being received given ``STOP_SILENCE``
        seconds of silence at most, and the connection ``STOP_MOST`` seconds in all."""
        super().shutdown()
        self._stopping = True
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY:
            self._await_body()
        self.loop.call_later(STOP_MOST, self._stop_late)

    def _stop_late(self) -> None:
        """Still open ``STOP_MOST`` seconds after the stop (a body still arriving, an answer
        the client does not read): dropped, its unsent bytes with it (a close would wait to
        send them, to a client not reading)."""
        self.transport.abort()  # nothing when it is closed already

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        self._stop_body_timer()
        self._stop_write_timer()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The answer's bytes wait for the client to read (the buffers full): the client
        has ``body_timeout`` seconds to take some before the connection is dropped."""
        super().pause_writing()
        self._stop_write_timer()
        self._write_timer = self.loop.call_later(self.body_timeout, self._write_late)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_write_timer()

    def _stop_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_late(self) -> None:
        self._write_timer = None
        if self.flow.write_paused:
            self.transport.abort()  # a close would wait to send what the client does not read

    def _await_body(self) -> None:
        """(Re)start the body's timer while the client is sending a body, else stop it."""
        self._stop_body_timer()
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            silence = min(self.body_timeout, STOP_SILENCE) if self._stopping else self.body_timeout
            self._body_timer = self.loop.call_later(silence, self._body_late)

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_late(self) -> None:
        self._body_timer = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        waiting = self.cycle is not None and self.cycle.waiting_for_100_continue
        if self.flow.read_paused or waiting:
            self._await_body()  # the server is the one waiting: not the client's silence
            return
        self.transport.close()

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
