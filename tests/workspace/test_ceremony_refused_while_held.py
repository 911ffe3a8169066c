"""A ceremony refused because another held the round (``CeremonyRefused``: answered 409 at
once) was in the audit log only: the round's page and ``GET /rounds/{key}`` listed the
ceremonies refused by the draw (``DrawRefused``) and not these, so the coordinator whose
ceremony held the round never saw that someone else's digits had been turned away. Now both
list them, with why: 另一场仪式正在进行 (``reason`` ``held``, whose ceremony held it and since
when). In Chromium on a phone (390 px), JavaScript off; the screenshot is kept under the
test's tmp folder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.api.test_ceremony_hold import DIGITS, KEY, Deployment, _committed
from tests.browser import PHONE, headless, phone
from tests.findings.live import serve
from tests.workspace.helpers import read_back

CONFIRM = 'button:has-text("确认无误，开始摇号")'
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d 北京时间"


@pytest.fixture
def held(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, str]]]:
    """The committed round served with a runner whose run leaves with the answer and does not
    draw (as the deployment's waits for its worker): the first ceremony holds the round."""
    _committed(engine, tmp_path, monkeypatch)
    made = {n: tokens.create_coordinator(engine, n, get_settings().bureau_code) for n in DIGITS}
    runner = Deployment()
    with serve(create_app(engine=engine, draw_runner=runner, adhoc_runner=runner.adhoc)) as base:
        yield base, made


def test_a_ceremony_refused_while_another_held_the_round_is_listed_on_the_page_and_api(
    held: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, made = held
    round_url = f"{base}/w/c/rounds/{KEY}"
    with headless() as browser:
        pages = {name: phone(browser).new_page() for name in DIGITS}
        for name, page in pages.items():  # both read back before either is confirmed
            read_back(page, f"{base}/w/c/open?token={made[name]}", round_url, "王五",
                      DIGITS[name])  # fmt: skip
        for page in pages.values():  # 李协调 first, then 王协调
            with page.expect_navigation():
                page.click(CONFIRM)
        assert pages["李协调"].url.endswith("?ceremony=1")
        assert "您提交的仪式数字未被采用：李协调 已于" in pages["王协调"].content()

        first = pages["李协调"]
        first.goto(round_url)
        listed = first.locator("#ceremony-refused li").all_inner_texts()
        assert len(listed) == 1, listed
        said = (rf"^王协调于 {WHEN} 提交的仪式数字未被采用：另一场仪式正在进行（您于 {WHEN} "
                r"提交的仪式数字正在摇号），一轮只摇一次；这次提交已记入审计日志。$")  # fmt: skip
        assert re.search(said, listed[0]), listed
        assert first.locator("#ceremony-live").count() == 1  # still held, still refreshing
        assert first.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        first.screenshot(path=str(tmp_path / "ceremony-refused-390.png"), full_page=True)

        second = pages["王协调"]
        second.goto(round_url)
        [own] = second.locator("#ceremony-refused li").all_inner_texts()
        assert re.search(rf"^您于 {WHEN} 提交的仪式数字未被采用：另一场仪式正在进行（李协调于", own)
    assert (tmp_path / "ceremony-refused-390.png").stat().st_size > 0

    auth = {"Authorization": f"Bearer {made['李协调']}"}
    rnd = httpx.get(f"{base}/rounds/{KEY}", headers=auth, timeout=30).json()
    [refused] = rnd["refused_ceremonies"]
    assert refused["requested_by"] == "王协调" and refused["reason"] == "held", refused
    assert refused["entered_by"] == "李协调", refused
    assert refused["entered_at"] < refused["at"], refused
    assert refused["at"].endswith("+00:00") and refused["entered_at"].endswith("+00:00")
