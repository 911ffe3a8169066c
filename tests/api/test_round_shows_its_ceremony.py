"""``GET /rounds/{key}`` did not say that a ceremony held the round: a coordinator's API client
saw ``committed`` and the ceremonies refused, not who was drawing the round, since when, until
when, nor its deployment run. Now the round's ``ceremony`` says it while the round is
committed, as its page does: ``entered_by``, ``entered_at``, ``by_command``, ``live``,
``held_until``, ``run_id`` and ``run_state`` (as Prefect says it), and ``error`` once it no
longer holds the round; null before any ceremony and once drawn. Real HTTP to the app, the
runs made on the session's Prefect API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api import runs, tokens
from api.app import create_app
from rounds import service
from shuangsui.config import get_settings
from tests.api.test_ceremony_hold import DIGITS, KEY, _committed
from tests.api.test_ceremony_run_ended import Deployment, _final
from tests.findings.live import serve


@pytest.fixture
def api(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[httpx.Client, Deployment]]:
    _committed(engine, tmp_path, monkeypatch)
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    runner = Deployment()
    with serve(create_app(engine=engine, draw_runner=runner, adhoc_runner=runner)) as base:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
            yield client, runner


def _ceremony(client: httpx.Client) -> Any:
    answer = client.get(f"/rounds/{KEY}")
    assert answer.status_code == 200, answer.text
    return answer.json()["ceremony"]


@pytest.mark.usefixtures("prefect_harness")
def test_the_round_says_which_ceremony_holds_it_and_its_run(
    api: tuple[httpx.Client, Deployment], engine: sa.Engine
) -> None:
    client, runner = api
    assert _ceremony(client) is None  # committed, no ceremony yet

    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY,
            "witness_digits": DIGITS["李协调"], "witnesses": ["王五"]}  # fmt: skip
    assert client.post("/rounds/adhoc", json=body).status_code == 202
    [run_id] = runner.runs
    held = _ceremony(client)
    entered = dt.datetime.fromisoformat(held["entered_at"])
    assert held == {"entered_by": "李协调", "entered_at": held["entered_at"],
                    "by_command": False, "live": True,
                    "held_until": (entered + dt.timedelta(minutes=15)).isoformat(),
                    "run_id": str(run_id), "run_state": "SCHEDULED", "error": None}  # fmt: skip
    assert entered.tzinfo is not None

    _final(run_id, "CANCELLED")
    runs.forget()  # what this process was told of the run, kept REMEMBER_SECONDS: let go
    ended = _ceremony(client)
    assert ended["live"] is False and ended["held_until"] is None, ended
    assert ended["run_state"] == "CANCELLED" and ended["run_id"] == str(run_id), ended
    assert ended["error"] == (f"flow run {run_id} of the draw-round deployment ended "
                              "CANCELLED with no draw")  # fmt: skip

    entropy = service.EntropyInput(DIGITS["王协调"], ("王五",))
    service.draw_round(engine=engine, round_key=KEY, entropy=entropy, requested_by="王协调")
    assert _ceremony(client) is None  # drawn: no ceremony holds it
