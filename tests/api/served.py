"""A real ``shuangsui serve`` process on loopback, and a client that keeps sending a chunked
body whatever the server answers (as a hostile one does), for the tests of what the server
bounds: bodies it does not read, request heads, idle and surplus connections."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port, serve_process

MiB = 1 << 20
CHUNK = 64 * 1024


@dataclass
class Served:
    pid: int
    port: int
    url: str
    log: Path

    def connect(self, timeout: float = 10) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def fds(self) -> int:
        """How many file descriptors the server process holds now."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@contextmanager
def serve(tmp_path: Path, env: dict[str, str], *, open_files: int = 0) -> Iterator[Served]:
    """``shuangsui serve`` with ``env`` over the test's environment (``SHUANGSUI_HOME`` in
    ``tmp_path``); with ``open_files``, under that open-file limit (``ulimit -n``)."""
    port = free_port()
    env = os.environ | {"SHUANGSUI_HOME": str(tmp_path / "home")} | env
    argv = ["shuangsui", "serve", "--port", str(port)]
    limit = ""
    if open_files:
        limit = f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, {open_files})); "
    boot = (
        f"import resource, runpy, sys; sys.argv = {argv!r}; {limit}"
        "runpy.run_module('shuangsui', run_name='__main__', alter_sys=True)"
    )
    log = tmp_path / "serve.log"
    with serve_process(env, port, log, argv=[sys.executable, "-c", boot]) as proc:
        yield Served(proc.pid, port, f"http://127.0.0.1:{port}", log)


@dataclass
class Pushed:
    status: int
    headers: dict[str, str]
    sent: int  # body bytes the server took before it closed the connection
    closed: bool  # the server closed the connection (else it was still open, reading)


def push_chunked(server: Served, head: str, total: int) -> Pushed:
    """Send ``head`` (ending in its blank line, with ``Transfer-Encoding: chunked``) and then
    ``total`` bytes of chunked body, going on after the answer, until the server stops taking
    them; the answer and how much was sent."""
    answer = bytearray()
    ended = threading.Event()
    with server.connect() as sock:

        def read() -> None:
            try:
                while data := sock.recv(65536):
                    answer.extend(data)
                ended.set()  # the server closed its side
            except ConnectionResetError:
                ended.set()
            except OSError:  # our own timeout: the server kept the connection open
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        sock.sendall(head.encode("ascii"))
        frame = b"%x\r\n%s\r\n" % (CHUNK, b"0" * CHUNK)
        sent = 0
        try:
            while sent < total:
                sock.sendall(frame)
                sent += CHUNK
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        reader.join(10)
        closed = ended.is_set()
    head_bytes = bytes(answer).partition(b"\r\n\r\n")[0].decode("latin-1")
    status_line, *lines = head_bytes.split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return Pushed(int(status_line.split()[1]), headers, sent, closed)


def head(method: str, path: str, headers: dict[str, str] | None = None) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def drip(
    sock: socket.socket, count: int, every: float, before: Callable[[int], None] | None = None
) -> bytes:
    """Send ``count`` blanks, one each ``every`` seconds (``before(i)`` called before the
    ``i``-th), as a slow client sends a body; what the server answered meanwhile."""
    answer = b""
    sock.settimeout(every)
    for i in range(count):
        if before is not None:
            before(i)
        sock.sendall(b" ")
        try:
            answer += sock.recv(65536)  # nothing yet: paces the drip
        except TimeoutError:
            pass
    return answer
