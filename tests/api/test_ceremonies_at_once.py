"""Two coordinators enter a committed round's ceremony at once (摇号仪式, the round's page's
form, confirmed): exactly one draw is made and the other is refused and audited (DrawRefused),
but both pages answered that the draw was under way and the coordinator whose digits were not
used was told so only in the server's log. Now the round's page, where the answer sends them
(``?ceremony=1``: 稍后刷新本页), says it: 您于 … 提交的仪式数字未被采用 to that coordinator, and
whose digits were not used to everyone else. Over HTTP on a real server, both posts held until
both have passed the page's checks; on SQLite and PostgreSQL (SQLite's writers take turns, the
outcome is the same: one draw, one refusal)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from shuangsui.errors import DrawAlreadyMade
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, sign_in

KEY = "ccc-2026-12-adhoc-1"
DIGITS = {"李协调": "27182818284590452353", "王协调": "31415926535897932384"}


@pytest.fixture
def served(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A committed ad hoc round, served with a draw runner that draws as the draw-round flow
    does (a refusal ends the run, the page already answered), once both posts reach it."""
    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=KEY, requested_by="李协调", reason="投诉举报")  # fmt: skip
    both = threading.Barrier(2, timeout=60)

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        both.wait()
        entropy = service.EntropyInput(params["witness_digits"], tuple(params["witnesses"]))
        try:
            service.draw_round(engine=engine, round_key=params["round_key"], entropy=entropy,
                               requested_by=params["requested_by"])  # fmt: skip
        except DrawAlreadyMade:
            pass  # the background run's end: its log
        return {"mode": "test", "round_key": KEY, "state": "running"}

    # the page's ceremony (draw-round's parameters) and the API's (adhoc-round's: round_id)
    def adhoc(params: dict[str, Any]) -> dict[str, Any]:
        return runner({"round_key": params["round_id"]} | params)

    with serve(create_app(engine=engine, draw_runner=runner, adhoc_runner=adhoc)) as base:
        yield base


def _page(http: httpx.Client) -> str:
    text = http.get(f"/w/c/rounds/{KEY}").text
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def test_the_coordinator_whose_digits_were_not_used_is_told_on_the_rounds_page(
    served: str, engine: sa.Engine
) -> None:
    clients = {}
    for name in DIGITS:
        token = tokens.create_coordinator(engine, name, get_settings().bureau_code)
        http = httpx.Client(base_url=served, timeout=120)
        assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
        clients[name] = http

    def ceremony(name: str) -> httpx.Response:
        http = clients[name]
        form = {"csrf": csrf_of(http.get(f"/w/c/rounds/{KEY}").text), "witnesses": "王五",
                "witness_digits": DIGITS[name], "confirmed": "1"}  # fmt: skip
        return http.post(f"/w/c/rounds/{KEY}/ceremony", data=form)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(ceremony, DIGITS))
    for answer in answers:
        assert answer.status_code == 303 and answer.headers["location"].endswith("?ceremony=1")
    with Session(engine) as s:
        query = select(AuditEvent).where(col(AuditEvent.round_key) == KEY)
        events = [e for e in s.exec(query).all() if e.event in ("DrawMade", "DrawRefused")]
    assert sorted(e.event for e in events) == ["DrawMade", "DrawRefused"]
    refused = next(e for e in events if e.event == "DrawRefused")
    loser = next(name for name in DIGITS if f'"requested_by":"{name}"' in refused.payload)
    winner = next(name for name in DIGITS if name != loser)
    told = _page(clients[loser])
    assert re.search(r"您于 \d{4}-\d\d-\d\d \d\d:\d\d 北京时间 提交的仪式数字未被采用", told), told
    assert "一轮只摇一次；这次提交已记入审计日志" in told
    seen = _page(clients[winner])
    assert f"{loser}于 " in seen and "提交的仪式数字未被采用" in seen and "您于" not in seen
    for http in clients.values():
        http.close()


def test_the_api_says_it_in_the_rounds_answer(served: str, engine: sa.Engine) -> None:
    """``POST /rounds/adhoc`` with the round's key and digits, twice at once: both 202; the
    round's answer (``GET /rounds/{key}``, which the 202 sends the caller to) says whose
    ceremony was not drawn."""
    auth = {name: {"Authorization": "Bearer " + tokens.create_coordinator(
        engine, name, get_settings().bureau_code)} for name in DIGITS}  # fmt: skip

    def ceremony(name: str) -> httpx.Response:
        body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY,
                "witness_digits": DIGITS[name], "witnesses": ["王五"]}  # fmt: skip
        return httpx.post(f"{served}/rounds/adhoc", headers=auth[name], json=body, timeout=120)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(ceremony, DIGITS))
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    for name in DIGITS:
        rnd = httpx.get(f"{served}/rounds/{KEY}", headers=auth[name]).json()
        assert rnd["status"] == "drawn"
        [refused] = rnd["refused_ceremonies"]
        assert refused["requested_by"] in DIGITS and refused["at"].endswith("+00:00")
    with Session(engine) as s:
        events = s.exec(select(AuditEvent).where(col(AuditEvent.round_key) == KEY)).all()
    [entry] = [e for e in events if e.event == "DrawRefused"]
    assert f'"requested_by":"{refused["requested_by"]}"' in entry.payload
    assert [e.event for e in events].count("DrawMade") == 1
