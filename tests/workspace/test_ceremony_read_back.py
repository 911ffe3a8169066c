"""The ceremony's digits are read back to the witnesses before the round is drawn: a draw is
never made again, so a digit mistyped on the round's page would be the round's randomness for
good. The first press shows the digits (in groups of four, with their count) and the
witnesses on a page of their own and draws nothing; its button draws them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api import tokens
from api.app import create_app
from rounds import service
from rounds.models import AuditEvent, RoundKind
from shuangsui.config import get_settings
from tests.browser import PHONE, headless, phone
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, read_back, sign_in

KEY = "ccc-2026-12-adhoc-1"
DIGITS = "27182818284590452353"


class Desk:
    def __init__(self, base: str, token: str, started: list[dict[str, Any]]):
        self.base, self.token, self.started = base, token, started


@pytest.fixture
def desk(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """A committed ad hoc round waiting for its ceremony, served, and a coordinator's token;
    the draw runner records what it was asked to draw."""
    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=KEY, requested_by="李协调", reason="投诉举报")  # fmt: skip
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"mode": "test", "round_key": KEY, "state": "running"}

    with serve(create_app(engine=engine, draw_runner=runner)) as base:
        yield Desk(base, token, started)


def _events(engine: sa.Engine) -> list[str]:
    with Session(engine) as s:
        query = select(AuditEvent.event).where(col(AuditEvent.round_key) == KEY)
        return list(s.exec(query).all())


def _text(page: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def test_the_digits_come_back_to_be_checked_and_only_their_page_draws(
    desk: Desk, engine: sa.Engine
) -> None:
    before = _events(engine)
    with httpx.Client(base_url=desk.base) as http:
        assert sign_in(http, f"/w/c/open?token={desk.token}").status_code == 303
        action = f"/w/c/rounds/{KEY}/ceremony"
        form = {"csrf": csrf_of(http.get(f"/w/c/rounds/{KEY}").text),
                "witnesses": "公证员 黄海、王五", "witness_digits": DIGITS}  # fmt: skip
        shown = http.post(action, data=form)
        assert shown.status_code == 200, shown.text[:300]
        said = _text(shown)
        assert "核对摇号数字" in said and "共 20 位" in said
        assert "2718 2818 2845 9045 2353" in said and "公证员、黄海、王五" in said
        assert "不能重新摇号" in said
        assert desk.started == [] and _events(engine) == before  # nothing drawn, nothing kept
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', shown.text))
        assert hidden == {"csrf": form["csrf"], "witness_digits": DIGITS,
                          "witnesses": "公证员、黄海、王五", "confirmed": "1"}  # fmt: skip
        drawn = http.post(action, data=hidden)
        assert drawn.status_code == 303 and drawn.headers["location"].endswith("?ceremony=1")
    assert desk.started == [{"round_key": KEY, "requested_by": "李协调",
                             "witness_digits": DIGITS,
                             "witnesses": ["公证员", "黄海", "王五"]}]  # fmt: skip
    assert _events(engine)[len(before) :] == ["AdhocRequested"]


def test_fewer_digits_than_the_commitment_named_are_refused_before_the_read_back(
    desk: Desk,
) -> None:
    with httpx.Client(base_url=desk.base) as http:
        assert sign_in(http, f"/w/c/open?token={desk.token}").status_code == 303
        form = {"csrf": csrf_of(http.get(f"/w/c/rounds/{KEY}").text), "witnesses": "王五",
                "witness_digits": DIGITS[:19]}  # fmt: skip
        for confirmed in ({}, {"confirmed": "1"}):
            r = http.post(f"/w/c/rounds/{KEY}/ceremony", data=form | confirmed)
            assert r.status_code == 422, r.text[:300]
            assert "见证人产生的数字：只有 19 位，本轮承诺至少 20 位" in _text(r)
    assert desk.started == []


def test_the_read_back_in_chromium_on_a_phone_without_javascript(
    desk: Desk, tmp_path: Path
) -> None:
    with headless() as browser:
        page = phone(browser).new_page()
        link = f"{desk.base}/w/c/open?token={desk.token}"
        read_back(page, link, f"{desk.base}/w/c/rounds/{KEY}", "王五，赵六", DIGITS)
        assert "核对摇号数字" in page.title()
        digits = page.locator(".ceremony-digits").inner_text()
        assert digits.split() == ["2718", "2818", "2845", "9045", "2353"]
        page.screenshot(path=str(tmp_path / "read-back.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert desk.started == []
        with page.expect_navigation():
            page.click('button:has-text("确认无误，开始摇号")')
        assert page.url.endswith(f"/w/c/rounds/{KEY}?ceremony=1"), page.inner_text("main")
    assert [p["witness_digits"] for p in desk.started] == [DIGITS]
    assert desk.started[0]["witnesses"] == ["王五", "赵六"]
