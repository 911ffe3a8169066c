"""The API documentation works on an intranet without internet: every script, style and icon of
``/docs`` and ``/redoc`` comes from the server itself."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from shuangsui.db import migrate
from tests.browser import command
from tests.servers import serve_app

REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    # the documentation pages never touch the database, but the server's start checks its
    # secret key against the one recorded (notifications.link_key): a migrated, empty one
    url = f"sqlite:///{tmp_path / 'docs.db'}"
    migrate(url)
    engine = sa.create_engine(url)
    try:
        with serve_app(create_app(engine=engine), lifespan="auto") as url:
            yield url
    finally:
        engine.dispose()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_outside(live: str, page: str) -> None:
    with httpx.Client(base_url=live, timeout=10) as http:
        r = http.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        hosts = re.findall(r"(?:https?:)?//[^\s\"'<>/]+", html)
        assert all(h.endswith(live.split("//")[1]) for h in hosts), hosts
        refs = [a or b for a, b in REFERENCE.findall(html)]
        assert "/openapi.json" in refs and len(refs) >= 3, refs
        for ref in refs:
            got = http.get(ref)
            assert got.status_code == 200, ref
            assert got.content, ref


@pytest.mark.parametrize(
    ("page", "rendered"),
    [("/docs", 'data-path="/findings/{round_key}/{credit_code}"'), ("/redoc", "/rounds/adhoc")],
)
def test_docs_render_in_a_browser_cut_off_from_other_hosts(
    live: str, page: str, rendered: str
) -> None:
    """Headless Chromium that can resolve no host but 127.0.0.1 still renders the operations."""
    dom = subprocess.run(
        command(
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
            live + page,
        ),
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert rendered in dom, dom[:2000]
