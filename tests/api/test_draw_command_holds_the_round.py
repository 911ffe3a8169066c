"""``shuangsui round draw`` held nothing while it drew: a ceremony entered on the round's page
(or by the API) during the command's seconds was taken, and its run then refused as ``drawn``
though nothing was drawn when it was entered, or raced the command (whichever drew first won),
while the page said 摇号进行中 for digits that would not be drawn. Now the command holds the
round from before its draw to its end (``DrawCommandEntered``, ``api.ceremonies``): a ceremony
entered meanwhile is refused at once as held by the command, naming the operator who ran it
(the page: 用命令行（shuangsui round draw）开始本轮摇号; the API: 409 with ``by_command``;
``GET /rounds/{key}``: its ``ceremony``); a second ``round draw`` with other digits is refused
too (exit 7), and the command's own draw is made.

The command runs in a thread of the test, held at its draw until the others have come; the
page is a real ``shuangsui serve`` in Chromium on a phone (390 px), JavaScript off; the second
command a process of its own. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner, Result

from api import tokens
from rounds import audit, service
from rounds.models import Round, RoundStatus
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from tests.api.served import serve
from tests.api.test_ceremony_hold import DIGITS, KEY, _committed
from tests.browser import PHONE, headless, phone
from tests.workspace.helpers import read_back

COMMAND_DIGITS = "16180339887498948482"
CONFIRM = 'button:has-text("确认无误，开始摇号")'
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d 北京时间"


class Held:
    """``round draw`` by 张运维 in a thread, stopped at its draw (after whatever it does
    first) until ``release``; ``inside`` is set once it is there."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inside, self.release = threading.Event(), threading.Event()
        self.result: Result | None = None
        real = service.draw_round

        def draw_round(**kwargs: Any) -> Round:
            self.inside.set()
            assert self.release.wait(120), "never released"
            return real(**kwargs)

        monkeypatch.setattr("rounds.cli.service.draw_round", draw_round)
        _register_groups()
        args = ["round", "draw", KEY, "--digits", COMMAND_DIGITS, "--witness", "赵六",
                "--by", "张运维"]  # fmt: skip
        self.thread = threading.Thread(target=self._run, args=(args,), daemon=True)

    def _run(self, args: list[str]) -> None:
        self.result = CliRunner().invoke(app, args)

    def __enter__(self) -> Held:
        self.thread.start()
        assert self.inside.wait(60), "the command never reached its draw"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(120)


@pytest.fixture
def served(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, str]]]:
    """The committed round served by a real ``shuangsui serve`` of the test's database."""
    _committed(engine, tmp_path, monkeypatch)
    made = {n: tokens.create_coordinator(engine, n, get_settings().bureau_code) for n in DIGITS}
    env = {"SHUANGSUI_DATABASE_URL": db_url, "SHUANGSUI_ENVIRONMENT": "test",
           "PREFECT_HOME": str(tmp_path / "prefect")}  # fmt: skip
    with serve(tmp_path, env) as server:
        yield server.url, made


def _events(engine: sa.Engine) -> list[tuple[str, dict[str, Any]]]:
    with Session(engine) as s:
        rows = audit.round_events(s, KEY)
    return [(e.event, json.loads(e.payload)) for e in rows]


def test_a_ceremony_entered_while_the_command_draws_is_refused_as_held_by_it(
    served: tuple[str, dict[str, str]],
    engine: sa.Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, made = served
    round_url = f"{base}/w/c/rounds/{KEY}"
    auth = {"Authorization": f"Bearer {made['李协调']}"}
    with headless() as browser:
        page = phone(browser).new_page()  # 王协调's ceremony, read back before the command
        read_back(page, f"{base}/w/c/open?token={made['王协调']}", round_url, "王五",
                  DIGITS["王协调"])  # fmt: skip
        with Held(monkeypatch) as command:
            with page.expect_navigation():
                page.click(CONFIRM)
            said = page.locator("main").inner_text()
            assert re.search(rf"您提交的仪式数字未被采用：张运维 已于 {WHEN} 用命令行"
                             r"（shuangsui round draw）开始本轮摇号", said), said  # fmt: skip
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.screenshot(path=str(tmp_path / "held-by-command-390.png"), full_page=True)

            body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY,
                    "witness_digits": DIGITS["李协调"], "witnesses": ["王五"]}  # fmt: skip
            answer = httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)
            assert answer.status_code == 409, answer.text
            problem = answer.json()
            assert problem["entered_by"] == "张运维" and problem["by_command"] is True, problem
            assert "being drawn by `shuangsui round draw`, run by 张运维" in problem["detail"]

            shown = httpx.get(f"{base}/rounds/{KEY}", headers=auth, timeout=60).json()
            assert shown["status"] == "committed", shown
            ceremony = shown["ceremony"]
            assert ceremony["entered_by"] == "张运维" and ceremony["by_command"] is True
            assert ceremony["live"] is True and ceremony["held_until"] > ceremony["entered_at"]
            assert ceremony["run_id"] is None and ceremony["error"] is None, ceremony

            page.goto(round_url)  # the round's page says who draws it, and how
            live = page.locator("#ceremony-live").inner_text()
            assert re.search(rf"张运维于 {WHEN} 用命令行（shuangsui round draw）开始摇号", live)
            # the ceremonies refused meanwhile say it was the command (as the 409 did)
            listed = page.locator("#ceremony-refused").inner_text()
            assert re.search(rf"您于 {WHEN} 提交的仪式数字未被采用：张运维于 {WHEN} 用命令行"
                             r"（shuangsui round draw）开始本轮摇号", listed), listed  # fmt: skip
            assert "另一场仪式" not in listed, listed
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            not_drawn = shown["refused_ceremonies"]
            assert [(r["requested_by"], r["by_command"]) for r in not_drawn] == [
                ("王协调", True), ("李协调", True)], not_drawn  # fmt: skip

            # a second command, a process of its own, with other digits: refused, exit 7
            second = subprocess.run(
                [sys.executable, "-m", "shuangsui", "round", "draw", KEY, "--digits",
                 DIGITS["李协调"], "--witness", "王五", "--by", "李运维"],
                env=os.environ | {"SHUANGSUI_DATABASE_URL": db_url}, capture_output=True,
                text=True, timeout=120,
            )  # fmt: skip
            assert second.returncode == 7, (second.stdout, second.stderr)
            assert re.match(rf"refused: round {KEY} is being drawn by `shuangsui round draw`, "
                            rf"run by 张运维 at {WHEN}; it holds the round until {WHEN}",
                            second.stderr), second.stderr  # fmt: skip
            with Session(engine) as s:
                rnd = s.get(Round, KEY)
                assert rnd is not None and rnd.status is RoundStatus.committed  # nothing drawn
    assert command.result is not None and command.result.exit_code == 0, command.result.output
    assert (tmp_path / "held-by-command-390.png").stat().st_size > 0

    events = _events(engine)
    names = [e for e, _ in events]
    assert names.count("DrawMade") == 1 and "DrawRefused" not in names, names
    refused = [(p["by"], p["entered_by"]) for e, p in events if e == "CeremonyRefused"]
    assert refused == [("王协调", "张运维"), ("李协调", "张运维"), ("李运维", "张运维")], refused
    with Session(engine) as s:
        rnd = s.get(Round, KEY)
        assert rnd is not None and rnd.status is RoundStatus.drawn
        used = [r["digits"] for r in rnd.entropy or [] if r.get("source") == "witness-digits"]
    assert used == [COMMAND_DIGITS]


def test_the_commands_hold_ends_with_a_draw_that_fails(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A draw that failed with what the draw itself does not record (a bug, a connection lost:
    here a RuntimeError raised in its place) ends the command's hold (``CeremonyEnded``): a
    ceremony may take the round at once, not 15 minutes on."""
    from api import ceremonies

    _committed(engine, tmp_path, monkeypatch)
    _register_groups()
    monkeypatch.setattr("rounds.cli.service.draw_round", _raises)
    out = CliRunner().invoke(app, ["round", "draw", KEY, "--digits", COMMAND_DIGITS,
                                   "--witness", "赵六", "--by", "张运维"])  # fmt: skip
    assert out.exit_code != 0
    names = [e for e, _ in _events(engine)]
    assert names[-2:] == ["DrawCommandEntered", "CeremonyEnded"], names
    hold = ceremonies.hold_of(engine, KEY)
    assert hold is not None and not hold.live and "RuntimeError" in hold.error, hold


def _raises(**kwargs: Any) -> Round:
    raise RuntimeError("the draw broke")
