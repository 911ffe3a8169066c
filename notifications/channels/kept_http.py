"""The webhook channel's transport: HTTP/1.1 over the standard library's ``http.client``,
speaking httpx (an ``httpx.BaseTransport``: ``httpx.Request`` in, ``httpx.Response`` out).

A webhook is one small signed POST, thousands of them a round. httpx's own transport
(httpcore and h11, pure Python) spends about 0.45 ms of CPU on each here, and ``http.client``
(its parser is the interpreter's, in C) about 0.17 ms for the same exchange
(``bench/bench_notifications.py``: the "sink ceiling" and "stdlib floor" rows). The channel
still builds httpx requests and reads httpx responses, so its classification of answers and
errors is unchanged, and tests may inject any other ``httpx.BaseTransport``.

What it does:

* One kept-alive connection per origin (scheme, host, port), at most ``MAX_KEPT`` of them,
  the least recently used closed first. A transport is one worker's: never shared between
  threads.
* A kept connection the server closed while it was idle (its socket reads as ready: the
  server's FIN, or bytes nobody asked for) is closed and a new one opened before the request
  is written, as httpcore does; a request is never written twice by this transport.
* TLS with the context it is given (the channel's: httpx's default CAs, or
  ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), the host name checked.
* Errors come out as httpx's, so the channel tells an outage from a failed exchange: failing
  to connect (refused, unreachable, unknown host, TLS handshake, certificate) is
  ``httpx.ConnectError`` or ``httpx.ConnectTimeout``; after the connection is up,
  ``httpx.WriteError``/``WriteTimeout``, ``httpx.ReadError``/``ReadTimeout`` or
  ``httpx.RemoteProtocolError`` (a malformed or missing answer). The connection is dropped.
* At most ``MAX_ANSWER`` bytes of an answer are read (a webhook's answer is a status and a
  short JSON document; the channel keeps 200 characters of an error): the rest is dropped
  with the connection, so a receiver cannot fill the dispatcher's memory.

What it does not do, because a webhook needs none of it: proxies, HTTP/2, redirects (the
channel refuses them), cookies, authentication flows, compression (the request asks for
none; a compressed answer is still decoded by ``httpx.Response``).
"""

from __future__ import annotations

import http.client
import select
import ssl
from collections import OrderedDict

import httpx

MAX_KEPT = 8  # idle connections kept, one per origin
MAX_ANSWER = 64 * 1024  # bytes of an answer read; the rest is dropped with its connection

_Origin = tuple[str, str, int]


class KeptHTTPTransport(httpx.BaseTransport):
    def __init__(self, tls: ssl.SSLContext) -> None:
        self._tls = tls
        self._kept: OrderedDict[_Origin, http.client.HTTPConnection] = OrderedDict()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeout = request.extensions.get("timeout", {})
        conn = self._kept.pop(origin, None)
        if conn is not None and _closed_by_peer(conn):
            conn.close()
            conn = None
        if conn is None:
            conn = self._connect(origin, timeout, request)
        try:
            _write(conn, request, timeout.get("write"))
            status, reason, headers, answer, reusable = _read(conn, request, timeout.get("read"))
        except BaseException:
            conn.close()
            raise
        if reusable:
            self._keep(origin, conn)
        else:
            conn.close()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(answer),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode("latin-1")},
        )

    def _connect(
        self, origin: _Origin, timeout: dict, request: httpx.Request
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        conn = (
            http.client.HTTPSConnection(
                host, port, timeout=timeout.get("connect"), context=self._tls
            )  # fmt: skip
            if scheme == "https"
            else http.client.HTTPConnection(host, port, timeout=timeout.get("connect"))
        )
        where = f"connecting to {host}:{port}"
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(f"{where}: {exc}", request=request) from exc
        except OSError as exc:  # refused, unreachable, unknown host, TLS handshake or certificate
            conn.close()
            raise httpx.ConnectError(f"{where}: {exc}", request=request) from exc
        return conn

    def _keep(self, origin: _Origin, conn: http.client.HTTPConnection) -> None:
        self._kept[origin] = conn
        while len(self._kept) > MAX_KEPT:
            _, oldest = self._kept.popitem(last=False)
            oldest.close()

    def close(self) -> None:
        while self._kept:
            _, conn = self._kept.popitem()
            conn.close()


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle kept connection whose socket reads as ready: the server closed it (or sent
    something unasked); either way it cannot carry a request."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):  # closed under us
        return True


def _write(conn: http.client.HTTPConnection, request: httpx.Request, timeout: float | None) -> None:
    """The request line, httpx's headers as they are (Host and Content-Length included: no
    header of http.client's own is added) and the body."""
    assert conn.sock is not None
    conn.sock.settimeout(timeout)
    body = request.content
    try:
        conn.putrequest(request.method, request.url.raw_path.decode("ascii"),
                        skip_host=True, skip_accept_encoding=True)  # fmt: skip
        for name, value in request.headers.raw:
            conn.putheader(name, value)
        conn.endheaders(body)
    except TimeoutError as exc:
        raise httpx.WriteTimeout(f"sending the request: {exc}", request=request) from exc
    except ValueError as exc:  # a header or target http.client refuses (a line break in it)
        raise httpx.LocalProtocolError(f"the request: {exc}", request=request) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise httpx.WriteError(f"sending the request: {exc!r}", request=request) from exc


def _read(
    conn: http.client.HTTPConnection, request: httpx.Request, timeout: float | None
) -> tuple[int, str, list[tuple[str, str]], bytes, bool]:
    """The answer's status, reason, headers, at most MAX_ANSWER bytes of its body, and
    whether the connection can carry another request."""
    assert conn.sock is not None
    conn.sock.settimeout(timeout)
    try:
        response = conn.getresponse()
        answer = response.read(MAX_ANSWER)
        whole = response.isclosed() or not response.read(1)  # nothing left unread
    except TimeoutError as exc:
        raise httpx.ReadTimeout(f"waiting for the answer: {exc}", request=request) from exc
    except http.client.HTTPException as exc:  # no answer, a malformed one, or cut short
        raise httpx.RemoteProtocolError(f"the answer: {exc!r}", request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(f"reading the answer: {exc!r}", request=request) from exc
    reusable = whole and not response.will_close
    return response.status, response.reason, response.getheaders(), answer, reusable
