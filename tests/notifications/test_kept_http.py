"""The webhook channel on its own transport (HTTP/1.1 over http.client), against real servers
on loopback: connections kept and replaced, every kind of failure classified as the channel
needs it (an outage, a transient failure, a permanent one), answers read only in part, and
TLS with the certificate checked."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import trustme

from notifications.channels import DeliveryError
from notifications.channels.kept_http import MAX_ANSWER, KeptHTTPTransport
from notifications.channels.webhook import WebhookChannel
from notifications.wire import WebhookRequest
from tests.servers import free_port

TIMEOUT = 2.0
Answer = Callable[[BaseHTTPRequestHandler, bytes], None]


def _json(status: int, body: bytes, *, close: bool = False, chunked: bool = False) -> Answer:
    def answer(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(len(body)))
        if close:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if chunked:
            half = len(body) // 2
            for part in (body[:half], body[half:], b""):
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        else:
            try:
                handler.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client read only a part
                handler.close_connection = True

    return answer


OK = _json(200, b'{"errcode":0,"errmsg":"ok"}')


class Receiver:
    """A real HTTP/1.1 server recording each request: (client port, path, headers, body)."""

    def __init__(self, answer: Answer = OK, *, tls: ssl.SSLContext | None = None,
                 close_after: bool = False) -> None:  # fmt: skip
        self.answer, self.requests = answer, []  # type: list[tuple[int, str, dict, bytes]]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.client_address[1], self.path, headers, body))
                outer.answer(self, body)
                # closed without saying so, as a server whose keep-alive timed out
                self.close_connection = self.close_connection or close_after

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def peers(self) -> list[int]:
        return [peer for peer, *_ in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(*args: object, **kwargs: object) -> Receiver:
        started.append(Receiver(*args, **kwargs))  # type: ignore[arg-type]
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def channel() -> Iterator[WebhookChannel]:
    ch = WebhookChannel(KeptHTTPTransport(ssl.create_default_context()), TIMEOUT, owned=True)
    yield ch
    ch.close()


def _post(url: str, n: int = 0) -> WebhookRequest:
    body = json.dumps({"msgtype": "text", "text": {"content": f"检查任务 {n}"}}).encode()
    return WebhookRequest(url, {"Content-Type": "application/json", "X-Shuangsui-Key": f"k{n}"},
                          body)  # fmt: skip


def test_one_kept_connection_carries_every_message_as_sent(
    receivers: Callable[..., Receiver], channel: WebhookChannel
) -> None:
    receiver = receivers()
    sent = [_post(receiver.url("/robot/send?access_token=a%2Fb"), n) for n in range(20)]
    for request in sent:
        channel.send(request, robot=True)
    assert len(set(receiver.peers())) == 1, "one connection for all twenty"
    assert [r[3] for r in receiver.requests] == [s.body for s in sent]
    assert {r[1] for r in receiver.requests} == {"/robot/send?access_token=a%2Fb"}
    headers = receiver.requests[0][2]
    assert headers["x-shuangsui-key"] == "k0" and headers["user-agent"] == "shuangsui-notify"
    assert headers["host"] == f"127.0.0.1:{receiver.port}"
    assert "accept-encoding" not in headers, "no header of http.client's own is added"


@pytest.mark.parametrize("how", ["the server's keep-alive ran out", "Connection: close"])
def test_a_connection_the_server_closed_is_replaced_and_nothing_is_sent_twice(
    receivers: Callable[..., Receiver], channel: WebhookChannel, how: str
) -> None:
    receiver = (
        receivers(close_after=True)
        if how.startswith("the server")
        else receivers(_json(200, b'{"errcode":0}', close=True))
    )
    for n in range(5):
        channel.send(_post(receiver.url(), n), robot=True)
        time.sleep(0.05)  # the server's close reaches the idle connection
    assert [r[3] for r in receiver.requests] == [_post("", n).body for n in range(5)]
    assert len(set(receiver.peers())) == 5, "a new connection each time"


def test_answers_in_chunks_are_read_and_robot_errors_classified(
    receivers: Callable[..., Receiver], channel: WebhookChannel
) -> None:
    receiver = receivers(_json(200, b'{"errcode":130101,"errmsg":"send too fast"}', chunked=True))
    with pytest.raises(DeliveryError) as busy:
        channel.send(_post(receiver.url()), robot=True)
    assert not busy.value.permanent and "130101" in busy.value.reason
    receiver.answer = _json(200, b'{"errcode":310000,"errmsg":"keywords not in content"}',
                            chunked=True)  # fmt: skip
    with pytest.raises(DeliveryError) as refused:
        channel.send(_post(receiver.url()), robot=True)
    assert refused.value.permanent and "keywords" in refused.value.reason
    receiver.answer = _json(200, b'{"errcode":0}', chunked=True)
    channel.send(_post(receiver.url()), robot=True)
    assert len(set(receiver.peers())) == 1, "a chunked answer read whole keeps its connection"


def test_a_huge_answer_is_read_only_in_part_and_its_connection_dropped(
    receivers: Callable[..., Receiver],
) -> None:
    huge = b"x" * (50 * MAX_ANSWER)
    receiver = receivers(_json(500, huge))
    transport = KeptHTTPTransport(ssl.create_default_context())
    try:
        response = transport.handle_request(httpx.Request("POST", receiver.url(), content=b"{}"))
        assert response.status_code == 500 and response.read() == huge[:MAX_ANSWER]
        channel = WebhookChannel(transport, TIMEOUT, owned=False)
        with pytest.raises(DeliveryError) as failed:
            channel.send(_post(receiver.url()))
        assert not failed.value.permanent and failed.value.reason == "HTTP 500 " + "x" * 200
        receiver.answer = OK
        channel.send(_post(receiver.url()))
    finally:
        transport.close()
    assert len(set(receiver.peers())) == 3, "an answer left unread is never followed on its line"


def test_no_server_is_an_outage(channel: WebhookChannel) -> None:
    with pytest.raises(DeliveryError) as refused:
        channel.send(_post(f"http://127.0.0.1:{free_port()}/hook"))
    assert refused.value.outage and not refused.value.permanent
    assert "ConnectError" in refused.value.reason


def test_a_silent_or_garbled_server_is_a_transient_failure_not_an_outage() -> None:
    """One server accepts and never answers; another answers with something not HTTP. Each
    is a failed exchange (retried later), not an outage, and neither blocks for longer than
    the timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            conn.recv(65536)
            if len(held) > 1:  # the second connection gets an answer that is not HTTP
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    ch = WebhookChannel(KeptHTTPTransport(ssl.create_default_context()), 0.5, owned=True)
    try:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as silent:
            ch.send(_post(f"http://127.0.0.1:{port}/hook"))
        assert time.monotonic() - started < 3
        assert not silent.value.outage and not silent.value.permanent
        assert "ReadTimeout" in silent.value.reason
        with pytest.raises(DeliveryError) as garbled:
            ch.send(_post(f"http://127.0.0.1:{port}/hook"))
        assert not garbled.value.outage and not garbled.value.permanent
        assert "RemoteProtocolError" in garbled.value.reason
    finally:
        ch.close()
        listener.close()
        for conn in held:
            conn.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_tls_with_the_certificate_checked(
    receivers: Callable[..., Receiver], ca: trustme.CA, tmp_path: Path
) -> None:
    """A receiver whose certificate the channel's CAs vouch for gets the message over TLS; one
    they do not is an outage (the exchange never starts), naming the certificate."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    receiver = receivers(tls=server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    trusting = WebhookChannel(
        KeptHTTPTransport(ssl.create_default_context(cafile=str(ca_file))), TIMEOUT, owned=True
    )
    stranger = WebhookChannel(KeptHTTPTransport(httpx.create_ssl_context()), TIMEOUT, owned=True)
    try:
        trusting.send(_post(receiver.url(), 1), robot=True)
        trusting.send(_post(receiver.url(), 2), robot=True)
        with pytest.raises(DeliveryError) as untrusted:
            stranger.send(_post(receiver.url(), 3), robot=True)
    finally:
        trusting.close()
        stranger.close()
    assert untrusted.value.outage and "CERTIFICATE_VERIFY_FAILED" in untrusted.value.reason
    assert [r[3] for r in receiver.requests] == [_post("", 1).body, _post("", 2).body]
    assert len(set(receiver.peers())) == 1
