"""POST /rounds/adhoc with the real runner (no Prefect server configured: the adhoc-round
flow runs in this process): the answer names the round, which is then committed and, after
the ceremony's digits are posted for it, drawn."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import adhoc, tokens
from api.app import create_app
from rounds.models import Round, RoundStatus
from shuangsui.config import get_settings
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import sign_in

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _wait_for(engine: sa.Engine, key: str, status: RoundStatus, seconds: float = 120) -> Round:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with Session(engine) as s:
            rnd = s.get(Round, key)
            if rnd is not None and rnd.status is status:
                return rnd
        time.sleep(0.5)
    raise AssertionError(f"round {key} not {status.value} within {seconds} s")


@pytest.mark.usefixtures("prefect_harness")
def test_adhoc_round_through_the_api_is_committed_then_drawn(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans_folder(tmp_path, monkeypatch, files={"ccc-2026-12.yaml": plan_yaml()})
    seed_registry(engine)
    coordinator = tokens.create_coordinator(engine, "林科长", get_settings().bureau_code)
    client = TestClient(create_app(engine=engine))
    auth = {"Authorization": f"Bearer {coordinator}"}

    body = {"plan": "ccc-2026-12", "reason": "投诉举报集中", "rates": {"D": "100%"}}
    r = client.post("/rounds/adhoc", headers=auth, json=body)
    assert r.status_code == 202, r.text
    key = r.json()["round_key"]
    assert key.startswith("adhoc-ccc-2026-12-") and r.json()["mode"] == "in-process"
    committed = _wait_for(engine, key, RoundStatus.committed)
    assert committed.requested_by == "林科长" and committed.reason == "投诉举报集中"

    r = client.post("/rounds/adhoc", headers=auth, json={
        "plan": "ccc-2026-12", "reason": "投诉举报集中", "round_id": key,
        "witness_digits": "57721566490153286060651209", "witnesses": ["公证员 黄海"],
    })  # fmt: skip
    assert r.status_code == 202 and r.json()["round_key"] == key
    drawn = _wait_for(engine, key, RoundStatus.drawn)
    assert drawn.seed and drawn.frame_commitment == committed.frame_commitment
    listed = client.get("/rounds", headers=auth).json()
    assert [x["status"] for x in listed if x["round_key"] == key] == ["drawn"]


def test_an_unknown_plan_digits_without_a_round_or_a_hidden_character_are_refused_at_once(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused with a 422 naming what is wrong, not answered 202 with a round key that the
    background run then never commits."""
    plans_folder(tmp_path, monkeypatch, files={"ccc-2026-12.yaml": plan_yaml()})
    coordinator = tokens.create_coordinator(engine, "林科长", get_settings().bureau_code)
    client = TestClient(create_app(engine=engine))
    auth = {"Authorization": f"Bearer {coordinator}"}
    unknown = client.post("/rounds/adhoc", headers=auth,
                          json={"plan": "no-such-plan", "reason": "投诉"})  # fmt: skip
    assert unknown.status_code == 422, unknown.text
    assert "no-such-plan" in unknown.json()["detail"]
    digits = client.post("/rounds/adhoc", headers=auth, json={
        "plan": "ccc-2026-12", "reason": "投诉", "witness_digits": "5772156649",
    })  # fmt: skip
    assert digits.status_code == 422 and "witness_digits" in digits.json()["detail"]
    hidden = client.post("/rounds/adhoc", headers=auth, json={
        "plan": "ccc-2026-12", "reason": "投诉", "round_id": "ccc-2026-12-adhoc-1",
        "witness_digits": "57721566490153286060651209", "witnesses": ["王五", "\u202e林晓"],
    })  # fmt: skip
    assert hidden.status_code == 422, hidden.text
    assert "witnesses[1]: contains the invisible character U+202E" in hidden.json()["detail"]
    with Session(engine) as s:
        assert s.exec(sa.select(Round)).all() == []  # type: ignore[call-overload]
    assert not adhoc.wait_for_running(timeout=1), "no round was started"


@pytest.mark.usefixtures("prefect_harness")
def test_a_round_refused_in_the_background_says_why_at_its_key(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answered 202 with a key, then refused before its commit (the window already has this
    check item's round, and the reason is not a re-check): the refusal was in the server's log
    only, and ``GET /rounds`` never listed the key. Now the key says why."""
    from rounds import service

    plans_folder(tmp_path, monkeypatch, files={"ccc-2026-12.yaml": plan_yaml()})
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    coordinator = tokens.create_coordinator(engine, "林科长", get_settings().bureau_code)
    client = TestClient(create_app(engine=engine))
    auth = {"Authorization": f"Bearer {coordinator}"}
    r = client.post("/rounds/adhoc", headers=auth, json={"plan": "ccc-2026-12", "reason": "投诉"})
    assert r.status_code == 202, r.text
    key = r.json()["round_key"]
    assert not adhoc.wait_for_running(timeout=120), "the round ended"
    said = client.get(f"/rounds/{key}", headers=auth)
    assert said.status_code == 200, said.text
    assert said.json()["status"] == "refused" and said.json()["plan_id"] == "ccc-2026-12"
    assert "already checked in this window" in said.json()["error"]
    assert client.get("/rounds/ccc-2026-12", headers=auth).json()["status"] == "committed"
    assert client.get("/rounds/no-such-round", headers=auth).status_code == 404
    # and the coordinator's month, in the month of the request, says it in Chinese
    assert sign_in(client, f"/w/c/open?token={coordinator}").status_code == 303
    month = client.get(f"/w/c/?period={dt.datetime.now(ZoneInfo('Asia/Shanghai')):%Y-%m}")
    row = next(tr for tr in month.text.split("<tr")[1:] if key in tr)
    assert "未能提交" in row and "临时抽查：投诉" in row and f"/w/c/rounds/{key}" not in row
    assert "检查事项 CCC-01 在本检查期间已由轮次 ccc-2026-12 检查" in row
