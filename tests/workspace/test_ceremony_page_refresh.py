"""The round's page after a ceremony, in Chromium on a phone with JavaScript off: it said
已提交仪式数字，摇号进行中；稍后刷新本页 and stayed so, the coordinator left to guess when to
reload it. Now, while the round's ceremony holds it (``api.ceremonies``), the page says who
entered the digits and when, that the draw is under way and that the page reloads itself
(``<meta http-equiv="refresh">``, which the workspace's Content-Security-Policy leaves alone),
and hides the ceremony's form (a second ceremony would be refused); once drawn, the reloaded
page says so with the draw's time and refreshes no more. A hold that ended without a draw
(its run refused) is said, with the form again."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from rounds import service
from rounds.models import RoundKind
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.browser import PHONE, headless, phone
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, read_back, sign_in

KEY = "ccc-2026-12-adhoc-1"
DIGITS = "27182818284590452353"
REFRESH = 'meta[http-equiv="refresh"]'


class Desk:
    """A committed round served with a draw runner that answers at once and draws in a thread
    of its own once ``release`` is set (as the in-process run or the deployment's does)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.release = threading.Event()
        self.refuse = False
        self.threads: list[threading.Thread] = []
        self.base = self.token = ""

    def runner(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.refuse:
            raise UserError("the runner refused to start the run")

        def draw() -> None:
            self.release.wait(120)
            entropy = service.EntropyInput(params["witness_digits"], tuple(params["witnesses"]))
            service.draw_round(engine=self.engine, round_key=KEY, entropy=entropy,
                               requested_by=params["requested_by"])  # fmt: skip

        thread = threading.Thread(target=draw, daemon=True)
        self.threads.append(thread)
        thread.start()
        return {"mode": "test", "round_key": KEY, "state": "running"}


@pytest.fixture
def desk(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=KEY, requested_by="李协调", reason="投诉举报")  # fmt: skip
    it = Desk(engine)
    it.token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine, draw_runner=it.runner)) as base:
        it.base = base
        yield it
        it.release.set()
        for thread in it.threads:
            thread.join(120)


def test_the_page_after_the_ceremony_shows_the_draw_when_it_is_made_without_javascript(
    desk: Desk,
) -> None:
    with headless() as browser:
        page = phone(browser).new_page()
        link = f"{desk.base}/w/c/open?token={desk.token}"
        read_back(page, link, f"{desk.base}/w/c/rounds/{KEY}", "王五", DIGITS)
        with page.expect_navigation():
            page.click('button:has-text("确认无误，开始摇号")')
        assert page.url.endswith(f"/w/c/rounds/{KEY}?ceremony=1")
        live = page.locator("#ceremony-live").inner_text()
        assert re.search(
            r"摇号进行中：您于 \d{4}-\d\d-\d\d \d\d:\d\d 北京时间 提交的仪式数字正在摇号", live
        )
        assert "本页每 5 秒自动刷新" in live
        assert page.locator(REFRESH).get_attribute("content") == "5"
        assert page.locator("#witness_digits").count() == 0  # no second ceremony offered
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        desk.release.set()  # the draw is made; the page reloads itself (no goto, no reload)
        page.wait_for_selector("#ceremony-drawn", timeout=60_000)
        drawn = page.locator("#ceremony-drawn").inner_text()
        assert re.search(r"摇号已完成（摇号时间 \d{4}-\d\d-\d\d \d\d:\d\d", drawn), drawn
        assert page.locator(REFRESH).count() == 0  # it refreshes no more
        assert page.locator("#ceremony-live").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_ceremony_whose_run_was_refused_is_said_and_the_form_offered_again(
    desk: Desk,
) -> None:
    desk.refuse = True
    with httpx.Client(base_url=desk.base, timeout=60) as http:
        assert sign_in(http, f"/w/c/open?token={desk.token}").status_code == 303
        form = {"csrf": csrf_of(http.get(f"/w/c/rounds/{KEY}").text), "witnesses": "王五",
                "witness_digits": DIGITS, "confirmed": "1"}  # fmt: skip
        assert http.post(f"/w/c/rounds/{KEY}/ceremony", data=form).status_code == 422
        shown = http.get(f"/w/c/rounds/{KEY}").text
    said = re.sub(r"<[^>]+>", "", shown)
    assert re.search(
        r"您于 \d{4}-\d\d-\d\d \d\d:\d\d 北京时间 提交的仪式数字未能完成摇号"
        "（摇号未能开始或中途失败）",
        said,
    )
    assert "系统记录：UserError: the runner refused to start the run" in said
    assert 'http-equiv="refresh"' not in shown and 'id="witness_digits"' in shown
