"""A round held by a ceremony whose run went to the ``draw-round`` deployment: its page asks
Prefect how the run is, and reloads itself every 5 s while the hold lasts. Each load waited
for Prefect: with a server that takes the connection and never answers, every reload took the
ask's whole bound (3 s) before the page came. Now a process keeps a run's answer, or its
silence, for ``api.runs.REMEMBER_SECONDS``: the first load waits, the next ones in that time do
not. A real ``shuangsui serve`` configured with the silent server, the page in Chromium on a
phone (390 px), JavaScript off; the screenshot is kept under the test's tmp folder."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api import adhoc as api_adhoc
from api import runs, tokens
from shuangsui.config import get_settings
from tests.api.served import serve
from tests.api.test_ceremony_hold import DIGITS, KEY, _committed
from tests.api.test_ceremony_run_ended import silent  # noqa: F401  (a fixture)
from tests.browser import PHONE, headless, phone
from tests.workspace.helpers import sign_in_page
from workspace.events import AdhocRequested


def _held(engine: sa.Engine) -> None:
    """李协调's ceremony holds the round, its run recorded as the deployment's runner records
    it (the run made on a server that no longer answers)."""

    def deployed(params: dict[str, Any]) -> dict[str, Any]:
        return {"mode": "deployment", "round_key": KEY, "flow_run_id": str(uuid.uuid4()),
                "state": "scheduled"}  # fmt: skip

    params = {"round_key": KEY, "requested_by": "李协调", "witness_digits": DIGITS["李协调"],
              "witnesses": ["王五"]}  # fmt: skip
    entry = AdhocRequested("ccc-2026-12", "投诉举报", "李协调", "ceremony")
    first, answer = api_adhoc.run_ceremony(engine, deployed, params, KEY, entry)
    assert first is None and answer["flow_run_id"], answer


def test_the_held_rounds_page_waits_on_a_silent_prefect_once_not_at_each_reload(
    engine: sa.Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    never = request.getfixturevalue("silent")  # a Prefect server that never answers
    _committed(engine, tmp_path, monkeypatch)
    _held(engine)
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    env = {"SHUANGSUI_DATABASE_URL": db_url, "SHUANGSUI_ENVIRONMENT": "test",
           "PREFECT_API_URL": never, "PREFECT_HOME": str(tmp_path / "prefect")}  # fmt: skip
    with serve(tmp_path, env) as served, headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, f"{served.url}/w/c/open?token={token}")
        took = []
        for _ in range(4):
            started = time.monotonic()
            page.goto(f"{served.url}/w/c/rounds/{KEY}")
            took.append(time.monotonic() - started)
            assert page.locator("#ceremony-live").count() == 1  # still held: nothing ended
        assert took[0] >= runs.ASK_SECONDS - 0.2, took  # asked, and waited for, once
        assert sum(took[1:]) < 3 * runs.ASK_SECONDS / 2, took  # each waited the bound before
        assert sum(took) < runs.REMEMBER_SECONDS, took  # (all within the answer's keeping)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "held-silent-prefect-390.png"), full_page=True)
        asked = served.log.read_text(encoding="utf-8").count("Prefect did not say its state")
    assert asked == 1, asked
    assert (tmp_path / "held-silent-prefect-390.png").stat().st_size > 0
