"""A committed round's ceremony is held in the database (``api.ceremonies``), not in the
process that answered it: two ceremonies posted at once to two ``shuangsui serve`` processes
of one database were both answered 202 (each process held only its own), and a ceremony whose
draw went to the ``draw-round`` deployment let go of the round with the 202, so a second one
posted while that run waited or drew was answered 202 too; each loser learnt it only later,
from the round's page. Now the first ceremony recorded wins, the second is answered 409 at
once wherever it comes, and both are in the audit log (the entry that holds the round, and
``CeremonyRefused``). A hold that will not draw ends: its runner refused to start the run
(``CeremonyEnded``), or :data:`api.ceremonies.HOLD` passed with nothing recorded (a run that
crashed, was cancelled, or a process that died); a later ceremony may then take the round.

The two servers' case runs on PostgreSQL and on SQLite (one file, two processes)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api import tokens
from api.app import create_app
from draw.canonical import canonical_json, sha256_hex
from rounds import service
from rounds.models import AuditEvent, RoundKind
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.api.served import serve as serve_process
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY = "ccc-2026-12-adhoc-1"
DIGITS = {"李协调": "27182818284590452353", "王协调": "31415926535897932384"}
TRACKED = ("AdhocRequested", "CeremonyRefused", "CeremonyEnded", "DrawMade", "DrawRefused")


def _committed(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=KEY, requested_by="李协调", reason="投诉举报")  # fmt: skip


def _auth(engine: sa.Engine) -> dict[str, dict[str, str]]:
    made = {n: tokens.create_coordinator(engine, n, get_settings().bureau_code) for n in DIGITS}
    return {name: {"Authorization": f"Bearer {token}"} for name, token in made.items()}


def _post(base: str, auth: dict[str, str], name: str) -> httpx.Response:
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY,
            "witness_digits": DIGITS[name], "witnesses": ["王五"]}  # fmt: skip
    return httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=120)


def _events(engine: sa.Engine) -> list[tuple[str, dict[str, Any]]]:
    with Session(engine) as s:
        query = (
            select(AuditEvent).where(col(AuditEvent.round_key) == KEY).order_by(col(AuditEvent.seq))
        )
        rows = [e for e in s.exec(query) if e.event in TRACKED]
    return [(e.event, json.loads(e.payload)) for e in rows]


def _offered(name: str) -> str:
    """What the ceremony offered, as ``DrawRefused`` names it (``api.ceremonies``)."""
    offered = {"witness_digits": DIGITS[name], "witnesses": ["王五"], "reveal": None}
    return sha256_hex(canonical_json(offered))


@pytest.fixture
def two_servers(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Two ``shuangsui serve`` processes of one database (as behind one address), with no
    Prefect server configured: a ceremony's draw runs in the process that took it."""
    _committed(engine, tmp_path, monkeypatch)
    env = {"SHUANGSUI_DATABASE_URL": db_url, "SHUANGSUI_HOME": str(tmp_path / "home"),
           "PREFECT_HOME": str(tmp_path / "prefect")}  # fmt: skip
    with ExitStack() as stack:
        bases = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            bases.append(stack.enter_context(serve_process(tmp_path / name, env)).url)
        yield bases


@pytest.mark.slow
def test_two_servers_answer_two_ceremonies_at_once_one_202_one_409(
    two_servers: list[str], engine: sa.Engine
) -> None:
    auth = _auth(engine)
    start = threading.Barrier(2, timeout=60)

    def one(name: str, base: str) -> httpx.Response:
        start.wait()
        return _post(base, auth[name], name)

    with ThreadPoolExecutor(2) as pool:
        sent = pool.map(one, DIGITS, two_servers)
        answers = dict(zip(DIGITS, sent, strict=True))
    codes = sorted(a.status_code for a in answers.values())
    assert codes == [202, 409], {n: (a.status_code, a.text[:300]) for n, a in answers.items()}
    [winner] = [n for n, a in answers.items() if a.status_code == 202]
    [loser] = [n for n, a in answers.items() if a.status_code == 409]
    problem = answers[loser].json()
    assert problem["type"] == "urn:shuangsui:problem:ceremony-entered", problem
    assert problem["entered_by"] == winner and problem.get("drawn_at") is None, problem

    deadline = time.monotonic() + 240  # the winner's server draws it (a Prefect flow)
    while time.monotonic() < deadline:
        status = httpx.get(f"{two_servers[0]}/rounds/{KEY}", headers=auth[loser], timeout=30)
        if status.json()["status"] != "committed":
            break
        time.sleep(1)
    assert status.json()["status"] == "drawn", status.text
    [refused_listed] = status.json()["refused_ceremonies"]  # the 409, listed with the round
    assert (refused_listed["requested_by"], refused_listed["reason"]) == (loser, "held")
    assert refused_listed["entered_by"] == winner
    events = _events(engine)
    assert [e for e, _ in events] == ["AdhocRequested", "CeremonyRefused", "DrawMade"], events
    entered, refused = events[0][1], events[1][1]
    assert entered["by"] == winner and entered["step"] == "ceremony"
    assert entered["offered_sha256"] == _offered(winner)
    assert (refused["by"], refused["entered_by"]) == (loser, winner)
    assert refused["offered_sha256"] == _offered(loser)
    assert refused["entered_at"][:19] == problem["entered_at"][:19]


class Deployment:
    """A runner as the deployment's is to this server: the run leaves with the answer (here it
    never draws, as a run that waits for its worker, crashed or was cancelled); ``refuse``:
    the runner refuses to start it instead."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.refuse = False

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.refuse:
            raise UserError("witnesses[0]: refused by the runner")
        self.started.append(params["requested_by"])
        return {"mode": "deployment", "round_key": KEY, "flow_run_id": "x", "state": "scheduled"}

    def adhoc(self, params: dict[str, Any]) -> dict[str, Any]:
        return self({"round_key": params["round_id"]} | params)


@pytest.fixture
def deployed(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Deployment]]:
    _committed(engine, tmp_path, monkeypatch)
    runner = Deployment()
    with serve(create_app(engine=engine, draw_runner=runner, adhoc_runner=runner.adhoc)) as base:
        yield base, runner


def test_a_ceremony_sent_to_the_deployment_holds_the_round_until_its_hold_ends(
    deployed: tuple[str, Deployment], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, runner = deployed
    auth = _auth(engine)
    assert _post(base, auth["李协调"], "李协调").status_code == 202
    second = _post(base, auth["王协调"], "王协调")
    assert second.status_code == 409, second.text
    assert second.json()["entered_by"] == "李协调"
    assert _post(base, auth["李协调"], "李协调").status_code == 202  # a retry: the same run
    assert runner.started == ["李协调", "李协调"]
    assert [e for e, _ in _events(engine)] == ["AdhocRequested", "CeremonyRefused"]

    # the run never drew (a crashed or cancelled run records nothing): once HOLD has passed,
    # a later ceremony takes the round
    monkeypatch.setattr("api.ceremonies.HOLD", dt.timedelta(0))
    assert _post(base, auth["王协调"], "王协调").status_code == 202
    events = _events(engine)
    assert [e for e, _ in events] == ["AdhocRequested", "CeremonyRefused", "AdhocRequested"]
    assert events[2][1]["by"] == "王协调" and events[2][1]["offered_sha256"] == _offered("王协调")
    assert runner.started == ["李协调", "李协调", "王协调"]


def test_a_ceremony_whose_run_is_refused_lets_go_of_the_round_at_once(
    deployed: tuple[str, Deployment], engine: sa.Engine
) -> None:
    base, runner = deployed
    auth = _auth(engine)
    runner.refuse = True
    refused = _post(base, auth["李协调"], "李协调")
    assert refused.status_code == 422, refused.text
    events = _events(engine)
    assert [e for e, _ in events] == ["AdhocRequested", "CeremonyEnded"]
    assert events[1][1] == {"by": "李协调", "offered_sha256": _offered("李协调"),
                            "error": "UserError: witnesses[0]: refused by the runner",
                            "run_state": ""}  # fmt: skip
    runner.refuse = False
    assert _post(base, auth["王协调"], "王协调").status_code == 202
    assert [e for e, _ in _events(engine)][2:] == ["AdhocRequested"]
    assert runner.started == ["王协调"]


@pytest.mark.usefixtures("prefect_harness")
def test_an_in_process_run_that_ends_without_a_draw_lets_go_of_the_round(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real runner, no Prefect server configured: the draw-round flow runs in a thread of
    this process and fails (its draw refused: five digits where the commitment named twenty
    were, until the API refused them at once, api.adhoc.check_ceremony; here the flow's
    carrying on to the draw raises); the thread records the hold's end, and the next ceremony
    is taken at once, not after HOLD."""
    _committed(engine, tmp_path, monkeypatch)
    auth = _auth(engine)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise UserError("witness digits refused by the draw (the test's stand-in)")

    monkeypatch.setattr("flows.rounds._carry_round", refused)
    with TestClient(create_app(engine=engine)) as client:
        body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY,
                "witness_digits": DIGITS["李协调"], "witnesses": ["王五"]}  # fmt: skip
        first = client.post("/rounds/adhoc", headers=auth["李协调"], json=body)
        assert first.status_code == 202 and first.json()["mode"] == "in-process", first.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_events(engine)) < 2:
            time.sleep(0.5)
        events = _events(engine)
        assert [e for e, _ in events] == ["AdhocRequested", "CeremonyEnded"], events
        assert "witness digits" in events[1][1]["error"], events
        body["witness_digits"] = DIGITS["王协调"]
        monkeypatch.undo()  # the next one draws, or waits: taken either way
        second = client.post("/rounds/adhoc", headers=auth["王协调"], json=body)
        assert second.status_code == 202, second.text
        assert [e for e, _ in _events(engine)][2] == "AdhocRequested"
