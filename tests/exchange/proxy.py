"""A loopback HTTP proxy in front of a partner's server that can misbehave on demand."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.exchange.bureaus import forged_checkpoint


class FaultProxy:
    """Forwards to ``upstream``; ``mode``: '' | forged | truncated | stop-mid-sync."""

    def __init__(self, upstream: str, origin: str, on_stop: Callable[[], None] = lambda: None):
        self.upstream, self.origin, self.on_stop = upstream, origin, on_stop
        self.mode, self.pages = "", 0
        # what it makes of GET /exchange/v1/about: '' (as served) | older (the server's own
        # 404 for a path it does not serve) | garbage | huge | values | forged
        self.about = ""
        # split view: requests signed by a key whose id starts with split[0] go to split[1]
        self.split: tuple[str, str] | None = None
        self.seen: list[tuple[str, dict[str, str]]] = []  # (path, headers) of requests
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        headers = {k: v for k, v in h.headers.items() if k.lower() != "host"}
        self.seen.append((h.path, headers))
        is_page = h.path.startswith("/exchange/v1/entries")
        if is_page and self.mode == "stop-mid-sync":
            self.pages += 1
            if self.pages == 2:
                self.on_stop()  # the partner's server goes down between two pages
        try:
            # partners sign for the proxy's URL, the partner's configured public URL
            upstream = self.upstream
            if self.split and f'keyid="{self.split[0]}' in h.headers.get("signature-input", ""):
                upstream = self.split[1]
            is_about = h.path.startswith("/exchange/v1/about")
            path = h.path + "/" if is_about and self.about == "older" else h.path
            resp = httpx.get(upstream + path, headers=headers | {"host": h.headers["host"]},
                             timeout=10)  # fmt: skip
        except httpx.HTTPError:
            h.send_response(502)
            h.end_headers()
            return
        body = resp.content
        out_headers = {k: v for k, v in resp.headers.items()
                       if k.lower() not in ("content-length", "transfer-encoding")}  # fmt: skip
        if self.mode == "forged" and h.path.startswith("/exchange/v1/checkpoint"):
            body = forged_checkpoint(body.decode(), self.origin).encode()
        if self.mode == "truncated" and is_page and resp.status_code == 200:
            doc = json.loads(body)
            doc["entries"] = doc["entries"][:-1]
            out_headers.pop("link", None)
            body = json.dumps(doc, ensure_ascii=False).encode()
        if is_about and self.about not in ("", "older"):
            body = about_answer(self.about, self.origin)
        h.send_response(resp.status_code)
        for k, v in out_headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def about_answer(mode: str, origin: str) -> bytes:
    """A hostile answer to GET /exchange/v1/about, in place of the partner's own."""
    if mode == "garbage":
        return b"<html><body>\x1b[31m\xe2\x80\xae maintenance</body></html>"
    if mode == "huge":  # 8 MiB, its length announced
        return b'{"statement": "' + b"x" * 8 * 2**20 + b'", "signature": ""}'
    if mode == "values":  # 40 KiB, well within the bytes, but 20,000 JSON values
        return b'{"statement": [' + b",".join([b"0"] * 20_000) + b'], "signature": ""}'
    if mode == "forged":  # "keeps unknown kinds", signed now, by a key not the partner's
        import datetime as dt

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from exchange import about, entries

        st = about.statement(origin, entries.KINDS, dt.datetime.now(dt.UTC))
        return json.dumps(about.sign(st, Ed25519PrivateKey.generate())).encode()
    raise ValueError(mode)
