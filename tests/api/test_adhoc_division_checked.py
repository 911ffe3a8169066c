"""``POST /rounds/adhoc`` refuses at once a division code that is well formed but no division
of GB/T 2260 (999999), or one outside the bureau's jurisdiction: it was answered 202 with a
round key and the round refused in the background (its commit's check against the registry),
seen only at ``GET /rounds/{key}``. Now 422 naming the override, its place and the code, from
the shipped division table (``rounds.plans.check_divisions``), and nothing started; a code the
table knows is still taken. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.api.test_ceremony_hold import _committed
from tests.findings.live import serve


@pytest.fixture
def served(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, str], list[dict[str, Any]]]]:
    _committed(engine, tmp_path, monkeypatch)
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:  # as a deployment answers
        started.append(params)
        return {"mode": "deployment", "round_key": "k", "flow_run_id": "x", "state": "scheduled"}

    with serve(create_app(engine=engine, adhoc_runner=runner)) as base:
        yield base, {"Authorization": f"Bearer {token}"}, started


@pytest.mark.parametrize(
    ("divisions", "said"),
    [
        (["999999"], "overrides.divisions.0: 999999 is not a GB/T 2260 division code"),
        (["350100", "3599"], "overrides.divisions.1: 359900 is not a GB/T 2260 division code"),
        (["310000"], "overrides.divisions.0: 310000 (上海市) is outside this bureau's"),
    ],
)
def test_a_division_code_not_in_the_table_is_refused_at_once(
    served: tuple[str, dict[str, str], list[dict[str, Any]]], divisions: list[str], said: str
) -> None:
    base, auth, started = served
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "divisions": divisions}
    r = httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(said), r.text
    assert started == []


def test_a_division_code_the_table_knows_is_taken(
    served: tuple[str, dict[str, str], list[dict[str, Any]]],
) -> None:
    base, auth, started = served
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "divisions": ["350100", "3502"]}
    r = httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)
    assert r.status_code == 202, r.text
    assert [p["divisions"] for p in started] == [["350100", "3502"]]
