"""A beacon down or late when its round is due, and one that serves a value that does not
verify.

The draw task tried a beacon round that was due and not served three times within about 100
seconds, then the run failed: the monthly run's other rounds were not drawn, nothing
scheduled another run, and the round stayed committed until someone noticed. Now the run goes
on with its other rounds and ends; run from a deployment it leaves one run of it scheduled
5 minutes after the beacon round's time (then 10, 20, ... at most 6 hours apart), however many
runs find the beacon down before then; the round's audit log and its coordinator page say
when it is tried again and what to check; the run scheduled draws the round once the beacon
is back. A value that does not verify is refused out loud, as before: nothing drawn, nothing
tried again."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.flow_engine import run_flow
from prefect.states import Scheduled
from sqlmodel import Session, select

import flows.rounds
from api import tokens
from api.app import create_app
from draw.errors import EntropyInvalid
from flows.rounds import monthly_round
from rounds import disclosure, service
from rounds import entropy as round_entropy
from rounds.models import AuditEvent
from shuangsui import config
from shuangsui.config import get_settings
from tasks.rounds import draw_round_task
from tests.findings.live import serve
from tests.rounds.beacon_clock import CHAIN, GENESIS, PERIOD, SIGNATURE, round_time
from tests.rounds.factories import plan_yaml, seed_registry
from tests.servers import answer_json
from tests.workspace.helpers import sign_in

KEY = "ccc-2026-12"
LATER = "aaa-2026-12"  # committed an hour later; drawn first in a run (plans in name order)


@dataclass
class Beacon:
    """A drand server on loopback: ``up`` or stopped (connection refused), serving the rounds
    up to ``served`` (None: all whose time has come by ``clock``) and, when ``bad``, a value
    whose randomness is not the SHA-256 of its signature."""

    port: int
    clock: dt.datetime
    served: int | None = None
    bad: bool = False
    asked: list[int] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.server = self.thread = None


def _handler(beacon: Beacon) -> type[BaseHTTPRequestHandler]:
    class _Drand(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if parts == [CHAIN, "info"]:
                answer_json(self, {"genesis_time": GENESIS, "period": PERIOD, "hash": CHAIN})
                return
            if parts[:2] != [CHAIN, "public"] or not parts[2].isdigit():
                self.send_error(404)
                return
            round_no = int(parts[2])
            beacon.asked.append(round_no)
            late = beacon.served is not None and round_no > beacon.served
            if late or round_time(round_no) > beacon.clock:
                self.send_error(425)  # drand's "too early": the round not out yet
                return
            randomness = hashlib.sha256(bytes.fromhex(SIGNATURE)).hexdigest()
            answer_json(self, {"round": round_no, "signature": SIGNATURE,
                               "randomness": "00" * 32 if beacon.bad else randomness})  # fmt: skip

        def log_message(self, format: str, *args: object) -> None:
            pass

    return _Drand


@pytest.fixture
def beacon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Beacon]:
    """The rounds' only entropy source, the clock every part reads, the plans folder, and the
    draw task's retries made at once (their count and condition as they are)."""
    b = Beacon(0, dt.datetime.now(dt.UTC).replace(microsecond=0))
    b.start()
    monkeypatch.setattr(service, "_now", lambda: b.clock)
    monkeypatch.setattr(round_entropy, "now", lambda: b.clock)
    monkeypatch.setattr(disclosure, "now", lambda: b.clock)
    monkeypatch.setattr(flows.rounds, "draw_round_task",
                        draw_round_task.with_options(retry_delay_seconds=0))  # fmt: skip
    monkeypatch.setenv("SHUANGSUI_ENTROPY_SOURCES", "beacon")
    monkeypatch.setenv("SHUANGSUI_BEACON_URL", b.url)
    monkeypatch.setenv("SHUANGSUI_BEACON_CHAIN_HASH", CHAIN)
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / f"{KEY}.yaml").write_text(plan_yaml(), encoding="utf-8")
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(plans))
    get_settings.cache_clear()
    try:
        yield b
    finally:
        b.stop()
        get_settings.cache_clear()


def _retries(engine: sa.Engine, key: str) -> list[dict]:
    with Session(engine) as s:
        rows = s.exec(
            select(AuditEvent.payload)
            .where(AuditEvent.round_key == key, AuditEvent.event == "BeaconRetryScheduled")
            .order_by(AuditEvent.seq)  # type: ignore[arg-type]
        ).all()
    return [json.loads(p) for p in rows]


def _round_page(engine: sa.Engine) -> str:
    """The round's coordinator page, as a coordinator (a new one each time) sees it."""
    ssc = tokens.create_coordinator(engine, f"协调{uuid4().hex[:6]}", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        page = http.get(f"/w/c/rounds/{KEY}")
    assert page.status_code == 200
    return page.text


def _page_line(engine: sa.Engine) -> str:
    """What the page says the round waits for."""
    return _round_page(engine).split('id="beacon">', 1)[1].split("</dd>", 1)[0]


def _beijing(at: dt.datetime) -> str:
    return (at + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") + " 北京时间"


@pytest.mark.usefixtures("prefect_harness")
def test_a_deployments_run_that_finds_the_beacon_down_schedules_one_later_run_that_draws(
    engine: sa.Engine, beacon: Beacon
) -> None:
    seed_registry(engine)
    deployment_id = monthly_round.to_deployment(name=f"down-{uuid4().hex[:8]}").apply()
    with get_client(sync_client=True) as client:

        def scheduled() -> list:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            found = [r for r in runs if r.state is not None and r.state.is_scheduled()]
            return sorted(found, key=lambda r: r.expected_start_time)

        def run(made: object = None) -> tuple[list[dict], object]:
            """A run of the deployment now, or ``made``, a run it scheduled, as its worker
            starts it at its time (the beacon's clock is there; the server's is not yet)."""
            if made is None:
                made = client.create_flow_run_from_deployment(
                    deployment_id, parameters={"period": "2026-12"}
                )
            else:
                now = Scheduled(scheduled_time=dt.datetime.now(dt.UTC))
                client.set_flow_run_state(made.id, now, force=True)  # type: ignore[attr-defined]
            result = run_flow(monthly_round, flow_run=made, parameters={"period": "2026-12"})
            return result, client.read_flow_run(made.id)  # type: ignore[attr-defined]

        (first,), _ = run()
        due = dt.datetime.fromisoformat(first["resume_at"])
        (at_due,) = scheduled()
        assert at_due.expected_start_time == due

        beacon.stop()  # the beacon server down at the beacon round's time
        beacon.clock = due + dt.timedelta(seconds=1)
        (down,), state = run(at_due)
        assert state.state.is_completed()  # type: ignore[attr-defined]
        assert down["status"] == "committed"
        assert f"beacon {beacon.url} unreachable" in down["waiting"]
        retry = due + dt.timedelta(minutes=5)
        assert down["resume_at"] == retry.isoformat()
        (later,) = scheduled()
        assert later.expected_start_time == retry and later.parameters == {"period": "2026-12"}
        (said,) = _retries(engine, KEY)
        assert said["at"] == retry.isoformat() and said["run"] == later.name

        beacon.clock = due + dt.timedelta(minutes=2)  # another run finds it down: nothing more
        (again,), _ = run()
        assert again["resume_at"] == retry.isoformat()
        assert [r.id for r in scheduled()] == [later.id] and len(_retries(engine, KEY)) == 1

        line = _page_line(engine)
        assert f"抽查流程将于 {_beijing(retry)} 自动再试（{later.name}）" in line
        assert f"SHUANGSUI_BEACON_URL（本轮指定 {beacon.url}）" in line and "网络" in line

        beacon.clock = retry  # the try scheduled: the beacon late now (up, round not out)
        beacon.start()
        (spec,) = first["entropy_plan"]["sources"]
        beacon.served = spec["round"] - 1
        (late,), state = run(later)
        assert state.state.is_completed()  # type: ignore[attr-defined]
        assert late["status"] == "committed" and "HTTP 425" in late["waiting"]
        retry2 = due + dt.timedelta(minutes=15)  # 10 minutes after the last try
        assert late["resume_at"] == retry2.isoformat()
        (last,) = scheduled()
        assert last.expected_start_time == retry2
        assert [e["at"] for e in _retries(engine, KEY)] == [retry.isoformat(), retry2.isoformat()]

        beacon.served = None  # back
        beacon.clock = retry2
        (drawn,), state = run(last)
        assert state.state.is_completed()  # type: ignore[attr-defined]
        assert drawn["status"] == "drawn" and [r["round"] for r in drawn["entropy"]] == [
            spec["round"]
        ]
        assert Path(drawn["bundle"]).is_dir() and scheduled() == []
    assert 'id="beacon"' not in _round_page(engine)


@pytest.mark.usefixtures("prefect_harness")
def test_a_beacon_round_not_served_leaves_its_round_waiting_and_the_others_drawn(
    engine: sa.Engine, beacon: Beacon, caplog: pytest.LogCaptureFixture
) -> None:
    """Two rounds of the month, committed an hour apart: the beacon serves the first one's
    round and not yet the second's. The run draws and bundles the first, leaves the second
    committed, ends, and (outside a deployment) says when to run again and what to check."""
    seed_registry(engine)
    plans = Path(config.get_settings().plans_dir)
    early = service.commit_round(engine=engine, plan_text=plan_yaml())
    beacon.clock += dt.timedelta(hours=1)
    other = plan_yaml(plan_id=LATER).replace("start: 2026-12-07", "start: 2026-12-01")
    other = other.replace("end: 2026-12-31", "end: 2026-12-06")  # (not the first's days)
    (plans / f"{LATER}.yaml").write_text(other, encoding="utf-8")
    late = service.commit_round(engine=engine, plan_text=other)
    (named,) = early.entropy_plan["sources"]
    (spec,) = late.entropy_plan["sources"]
    due = dt.datetime.fromisoformat(spec["expected_at"])
    beacon.served = named["round"]
    beacon.clock = due + dt.timedelta(minutes=1)

    results = {r["round_key"]: r for r in monthly_round(period="2026-12")}
    assert results[KEY]["status"] == "drawn" and Path(results[KEY]["bundle"]).is_dir()
    waiting = results[LATER]
    assert waiting["status"] == "committed" and "HTTP 425" in waiting["waiting"]
    retry = due + dt.timedelta(minutes=5)
    assert waiting["resume_at"] == retry.isoformat()
    said = caplog.text
    assert "run the flow again after then" in said and str(retry) in said
    assert f"check SHUANGSUI_BEACON_URL ({beacon.url}" in said
    assert _retries(engine, LATER) == []  # no run scheduled: the page says to run it again

    beacon.served = None
    beacon.clock = retry
    results = {r["round_key"]: r for r in monthly_round(period="2026-12")}
    assert results[LATER]["status"] == "drawn"
    assert results[LATER]["entropy"][0]["round"] == spec["round"]


@pytest.mark.usefixtures("prefect_harness")
def test_a_beacon_value_that_does_not_verify_is_refused_and_not_tried_again(
    engine: sa.Engine, beacon: Beacon
) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    (spec,) = rnd.entropy_plan["sources"]
    beacon.bad = True
    beacon.clock = dt.datetime.fromisoformat(spec["expected_at"])
    with pytest.raises(EntropyInvalid, match=r"randomness != sha256\(signature\)"):
        monthly_round(period="2026-12")
    assert beacon.asked == [spec["round"]]  # asked once: never tried again
    assert service.get_round(engine, KEY).status.value == "committed"
    assert _retries(engine, KEY) == []
