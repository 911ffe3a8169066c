"""A coordinator's workspace page asked for an overlong round key (or export name) names it cut
short, once, and sends the person back to the month: a 10,000-character key is not echoed.

The keys stay under the 16 KiB a request head may take (``shuangsui serve`` answers 431 past
it: ``tests/api/test_serve_bounds.py``): a 100,000-character key here was answered or refused
by how the network split it, and a refusal could reach the client as a reset."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.servers import serve_app
from tests.workspace.helpers import sign_in

LONG = "a" * 10_000


@dataclass
class Page:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


def _get(base: str, path: str, cookie: str) -> Page:
    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": f"ssw_c={cookie}"})
        r = conn.getresponse()
        return Page(r.status, r.read())
    finally:
        conn.close()


def test_an_overlong_round_key_is_named_cut_short(engine: sa.Engine) -> None:
    code = sorted(drawn_round(engine))[0]
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve_app(create_app(engine=engine)) as base:
        with httpx.Client(base_url=base) as http:
            assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
            cookie = http.cookies["ssw_c"]
        paths = {
            "round": f"/w/c/rounds/{LONG}",
            "enterprise": f"/w/c/rounds/{LONG}/e/{code}",
            "export": f"/w/c/rounds/{LONG}/findings.csv",
            "export name": f"/w/c/rounds/{ROUND}/{LONG}.csv",
            "enterprise code": f"/w/c/rounds/{ROUND}/e/{'A' * 10_000}",
        }
        pages = {what: _get(base, path, cookie) for what, path in paths.items()}
    for what, r in pages.items():
        assert r.status_code == 404, (what, r.status_code)
        assert len(r.content) < 8_000, (what, len(r.content))
        assert "a" * 65 not in r.text and "A" * 25 not in r.text, what
    for what in ("round", "enterprise", "export"):
        assert f"没有轮次 {'a' * 64}…。" in pages[what].text, what
        assert 'href="/w/c/"' in pages[what].text, what  # back to the month, not the same path
    assert f"没有这种导出：{'a' * 64}…" in pages["export name"].text
    assert f"没有企业 {'A' * 24}… 的检查任务" in pages["enterprise code"].text
    assert f'href="/w/c/rounds/{ROUND}"' in pages["enterprise code"].text  # back to the round
