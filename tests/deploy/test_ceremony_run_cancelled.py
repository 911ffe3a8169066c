"""A ceremony's draw sent to the ``draw-round`` deployment, whose run is cancelled before a
worker takes it: the round was held for ``api.ceremonies.HOLD`` (15 minutes), the page saying
摇号进行中 and every other ceremony refused, because Prefect was never asked. Now the run's id
is kept with the hold and the round's page asks Prefect: the run cancelled, the hold ends at
once (``CeremonyEnded``, ``CANCELLED``), the page says 部署运行已取消 and offers the form, and
the next ceremony is taken and drawn by the worker.

All real: ``prefect server start``, ``prefect deploy --all`` from the repository, ``prefect
flow-run cancel``, a process worker, and a ``shuangsui serve`` of the test's database (SQLite
and PostgreSQL) configured with that server."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from rounds import audit
from rounds.models import Round
from shuangsui.config import get_settings
from tests.api.served import serve
from tests.api.test_ceremony_hold import DIGITS, KEY, _committed
from tests.deploy.conftest import RUN_TIMEOUT, Deployed, pool_worker
from tests.deploy.procs import wait_for
from tests.workspace.helpers import sign_in

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect-server")]


def _ceremony(base: str, token: str, name: str) -> httpx.Response:
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY,
            "witness_digits": DIGITS[name], "witnesses": ["王五"]}  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=120)


def _ended(engine: sa.Engine) -> list[dict[str, str]]:
    with Session(engine) as s:
        rows = audit.round_events(s, KEY)
    return [json.loads(e.payload) for e in rows if e.event == "CeremonyEnded"]


def test_a_run_cancelled_before_a_worker_took_it_lets_go_of_the_round(
    deployed: Deployed,
    engine: sa.Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = deployed.server
    _committed(engine, tmp_path, monkeypatch)
    made = {n: tokens.create_coordinator(engine, n, get_settings().bureau_code) for n in DIGITS}
    env = server.env(SHUANGSUI_DATABASE_URL=db_url, SHUANGSUI_ENVIRONMENT="test",
                     SHUANGSUI_PLANS_DIR=str(tmp_path / "plans"))  # fmt: skip
    (tmp_path / "serve").mkdir()
    with serve(tmp_path / "serve", env) as served:
        first = _ceremony(served.url, made["李协调"], "李协调")
        assert first.status_code == 202, first.text
        assert first.json()["mode"] == "deployment", first.text
        run_id = uuid.UUID(first.json()["flow_run_id"])
        refused = _ceremony(served.url, made["王协调"], "王协调")  # scheduled: still held
        assert refused.status_code == 409 and refused.json()["entered_by"] == "李协调"

        server.check_cli("flow-run", "cancel", str(run_id))
        with server.client() as client:
            state = wait_for(lambda: client.read_flow_run(run_id).state, 60, "a state",
                             poll=1.0, details=server.proc.output)  # fmt: skip
        assert state.type.value in ("CANCELLED", "CANCELLING"), state

        with httpx.Client(base_url=served.url, timeout=60) as http:
            assert sign_in(http, f"/w/c/open?token={made['王协调']}").status_code == 303

            def ended() -> str | None:  # CANCELLING becomes CANCELLED: asked at each load
                page = http.get(f"/w/c/rounds/{KEY}").text
                return page if 'id="ceremony-ended"' in page else None

            page = wait_for(ended, 60, "the hold to end", poll=2.0, details=served.log.read_text)
        said = re.sub(r"<[^>]+>", "", page)
        assert re.search(
            r"李协调于 \S+ \S+ 北京时间 提交的仪式数字未能完成摇号（部署运行已取消）", said
        ), said
        assert 'id="witness_digits"' in page and 'http-equiv="refresh"' not in page
        [end] = _ended(engine)
        assert end["run_state"] == "CANCELLED" and str(run_id) in end["error"], end

        # a worker on this test's database, started once the first run is cancelled (it
        # never takes that one); on the way out it waits for every run it took to end
        with pool_worker(deployed, tmp_path, SHUANGSUI_DATABASE_URL=db_url,
                         SHUANGSUI_PLANS_DIR=str(tmp_path / "plans"),
                         SHUANGSUI_HOME=str(tmp_path / "worker-home")) as worker:  # fmt: skip
            second = _ceremony(served.url, made["王协调"], "王协调")  # taken at once
            assert second.status_code == 202, second.text
            deadline = time.monotonic() + RUN_TIMEOUT
            auth = {"Authorization": f"Bearer {made['王协调']}"}
            while time.monotonic() < deadline:
                status = httpx.get(f"{served.url}/rounds/{KEY}", headers=auth, timeout=30).json()
                if status["status"] != "committed":
                    break
                time.sleep(2)
            assert status["status"] == "drawn", worker.output()
            # the round is drawn before its flow run ends: a worker stopped before the run is
            # final kills it RUNNING, holding the ad hoc deployment's one slot (its lease, 300 s)
            # from every later test's run on this Prefect server
            server.wait_final(uuid.UUID(second.json()["flow_run_id"]), RUN_TIMEOUT,
                              worker.output)  # fmt: skip
    with server.client() as client:
        assert client.read_flow_run(run_id).state.type.value == "CANCELLED"  # never run
    with Session(engine) as s:
        rnd = s.get(Round, KEY)
        events = [e.event for e in audit.round_events(s, KEY)]
    assert rnd is not None and events.count("DrawMade") == 1, events
    used = [r["digits"] for r in rnd.entropy or [] if r.get("source") == "witness-digits"]
    assert used == [DIGITS["王协调"]], rnd.entropy  # the second ceremony's digits
