"""The ad hoc form offers the current plans only: the plans folder keeps every month's plans
for years (after five, the form offered 122, 2022's first), and a round takes its plan's period
and check window, so one of a past month's plan would be late the day it is drawn."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from findings.dates import today
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import sign_in


def test_the_form_offers_and_takes_only_the_current_plans(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    period = today().strftime("%Y-%m")
    plans_folder(tmp_path, monkeypatch, files={
        "old.yaml": plan_yaml(plan_id="ccc-2025-06", period="2025-06"),
        "now.yaml": plan_yaml(plan_id="ccc-now", period=period),
        "later.yaml": plan_yaml(plan_id="ccc-later", period="2099-01"),
    })  # fmt: skip
    seed_registry(engine)
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine, adhoc_runner=lambda params: {})) as base:
        with httpx.Client(base_url=base) as http:
            assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
            form = http.get("/w/c/adhoc")
            csrf = re.findall(r'name="csrf" value="([^"]+)"', form.text)[0]
            old = http.post("/w/c/adhoc", data={"csrf": csrf, "plan": "ccc-2025-06",
                            "reason": "投诉举报", "action": "preview"})  # fmt: skip
    offered = re.findall(r'<option value="([a-z0-9-]+)"', form.text)
    assert offered == ["ccc-later", "ccc-now"]  # in the folder's order, by file name
    assert old.status_code == 422 and "没有可用的计划 ccc-2025-06" in old.text
