"""A ceremony whose draw went to the ``draw-round`` deployment held its round for
:data:`api.ceremonies.HOLD` (15 minutes) whatever became of the run: Prefect was never asked,
so a run cancelled before a worker took it, or one that crashed at once, left the coordinator
waiting with the page saying 摇号进行中. Now the run's id is recorded with the hold
(``CeremonyRunCreated``), and a later ceremony (and the round's page, and ``round draw``) asks
Prefect how the run is: one in a final state with no draw ends the hold at once
(``CeremonyEnded`` with the run's state) and the next ceremony takes the round; one still
scheduled keeps it; Prefect not answering, or not knowing the run, keeps today's rule.

Here with a real Prefect API (the session's test harness) and runs made on it as the
deployment's runner makes them, scheduled for a worker; ``tests/deploy`` has the real server
and worker."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import adhoc as api_adhoc
from api import runs
from api.ceremonies import Ceremony
from rounds import audit
from tests.api.test_ceremony_hold import DIGITS, KEY, _committed, _offered
from workspace import adhoc as workspace_adhoc
from workspace.events import AdhocRequested

ZONE = "Asia/Shanghai"
TRACKED = ("Adhoc", "Ceremony", "Draw")  # the ceremonies' and the draw's entries


class Deployment:
    """A runner as ``api.adhoc.run_draw`` is when a Prefect server has the deployment: the run
    is made on the server, scheduled for a worker (none here), and leaves with the answer."""

    def __init__(self) -> None:
        self.runs: list[uuid.UUID] = []

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        from prefect.client.orchestration import get_client
        from prefect.states import Scheduled

        from flows.rounds import draw_round

        with get_client(sync_client=True) as client:
            run = client.create_flow_run(draw_round, parameters={}, state=Scheduled())
        self.runs.append(run.id)
        return {"mode": "deployment", "round_key": KEY, "flow_run_id": str(run.id),
                "state": "scheduled"}  # fmt: skip


def _ceremony(
    engine: sa.Engine, runner: Callable[[dict[str, Any]], dict[str, Any]], name: str
) -> Ceremony | None:
    """``name``'s ceremony as ``POST /rounds/adhoc`` starts it: who holds the round instead."""
    params = {"round_key": KEY, "requested_by": name, "witness_digits": DIGITS[name],
              "witnesses": ["王五"]}  # fmt: skip
    entry = AdhocRequested("ccc-2026-12", "投诉举报", name, "ceremony")
    first, _ = api_adhoc.run_ceremony(engine, runner, params, KEY, entry, runs.run_state)
    return first


def _events(engine: sa.Engine) -> list[tuple[str, dict[str, Any]]]:
    with Session(engine) as s:
        rows = audit.round_events(s, KEY)
    return [(e.event, json.loads(e.payload)) for e in rows if e.event.startswith(TRACKED)]


def _final(run_id: uuid.UUID, state: str) -> None:
    from prefect import states
    from prefect.client.orchestration import get_client

    made = {"CANCELLED": states.Cancelled, "CRASHED": states.Crashed,
            "FAILED": states.Failed, "COMPLETED": states.Completed}[state]  # fmt: skip
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, made(message="by the test"), force=True)


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    ("state", "said"), [("CANCELLED", "已取消"), ("CRASHED", "已崩溃"), ("COMPLETED", "已结束")]
)
def test_a_run_ended_with_no_draw_lets_go_of_the_round_at_once(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    said: str,
) -> None:
    _committed(engine, tmp_path, monkeypatch)
    runner = Deployment()
    assert _ceremony(engine, runner, "李协调") is None
    [run_id] = runner.runs
    assert [e for e, _ in _events(engine)] == ["AdhocRequested", "CeremonyRunCreated"]
    assert _events(engine)[1][1] == {"by": "李协调", "offered_sha256": _offered("李协调"),
                                     "flow_run_id": str(run_id)}  # fmt: skip

    # scheduled, waiting for its worker: the round stays held
    first = _ceremony(engine, runner, "王协调")
    assert first is not None and first.requested_by == "李协调"
    hold = workspace_adhoc.ceremony_hold(engine, KEY, ZONE)
    assert hold is not None and hold.live

    _final(run_id, state)
    runs.forget()  # what the page was told of the run, kept REMEMBER_SECONDS: let go
    hold = workspace_adhoc.ceremony_hold(engine, KEY, ZONE)  # the round's page asks Prefect
    assert hold is not None and not hold.live and hold.run_ended == said, hold
    ended = [p for e, p in _events(engine) if e == "CeremonyEnded"]
    assert ended == [{"by": "李协调", "offered_sha256": _offered("李协调"), "run_state": state,
                      "error": f"flow run {run_id} of the draw-round deployment ended {state} "
                               "with no draw"}]  # fmt: skip

    assert _ceremony(engine, runner, "王协调") is None  # taken at once, not after HOLD
    events = _events(engine)
    assert [e for e, _ in events][-2:] == ["AdhocRequested", "CeremonyRunCreated"]
    assert events[-2][1]["by"] == "王协调" and len(runner.runs) == 2


@pytest.mark.usefixtures("prefect_harness")
def test_a_later_ceremony_asks_prefect_itself_and_ends_the_hold(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No page looked at: the second ceremony finds the run cancelled and takes the round."""
    _committed(engine, tmp_path, monkeypatch)
    runner = Deployment()
    assert _ceremony(engine, runner, "李协调") is None
    _final(runner.runs[0], "CANCELLED")
    assert _ceremony(engine, runner, "王协调") is None
    names = [e for e, _ in _events(engine)]
    assert names == ["AdhocRequested", "CeremonyRunCreated", "CeremonyEnded", "AdhocRequested",
                     "CeremonyRunCreated"]  # fmt: skip


@pytest.fixture
def silent() -> Iterator[str]:
    """A Prefect API address whose connections are taken and never answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api"


@pytest.mark.parametrize("where", ["silent", "refused", "unknown run"])
def test_prefect_not_saying_keeps_the_hold_and_answers_within_the_bound(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    where: str,
) -> None:
    """Prefect not answering (a server that takes the connection and says nothing, or no
    server), or knowing no such run: nothing ends the hold, which lasts its HOLD as before, and
    the ceremony refused is told within ``api.adhoc.ASK_SECONDS`` and a little."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    _committed(engine, tmp_path, monkeypatch)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{free.getsockname()[1]}/api"
    if where == "unknown run":
        request.getfixturevalue("prefect_harness")
        url = str(PREFECT_API_URL.value())
    else:
        url = request.getfixturevalue("silent") if where == "silent" else closed

    def deployed(params: dict[str, Any]) -> dict[str, Any]:
        return {"mode": "deployment", "round_key": KEY, "flow_run_id": str(uuid.uuid4()),
                "state": "scheduled"}  # fmt: skip

    with temporary_settings(updates={PREFECT_API_URL: url}):
        assert _ceremony(engine, deployed, "李协调") is None
        started = time.monotonic()
        first = _ceremony(engine, deployed, "王协调")
        took = time.monotonic() - started
        hold = workspace_adhoc.ceremony_hold(engine, KEY, ZONE)
    assert first is not None and first.requested_by == "李协调"
    assert took < runs.ASK_SECONDS + 5, took
    assert hold is not None and hold.live
    assert "CeremonyEnded" not in [e for e, _ in _events(engine)]

    # and once HOLD has passed, the rule of before: a later ceremony takes the round
    monkeypatch.setattr("api.ceremonies.HOLD", dt.timedelta(0))
    with temporary_settings(updates={PREFECT_API_URL: url}):
        assert _ceremony(engine, deployed, "王协调") is None


@pytest.fixture
def ceremony_deployment(prefect_harness: None) -> Iterator[None]:
    """The ``draw-round/ceremony`` deployment on the session's Prefect API, so the real runner
    (``api.adhoc.run_draw``) makes its runs there; removed after, for the tests that run the
    flow in-process."""
    from prefect.client.orchestration import get_client

    from flows.rounds import draw_round

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(draw_round)
        made = client.create_deployment(flow_id=flow_id, name="ceremony")
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(made)


@pytest.mark.usefixtures("ceremony_deployment")
def test_the_same_digits_after_their_run_was_cancelled_make_a_new_run(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real runner: its run is keyed by the round and the digits, so a retry is one run;
    but the same digits entered again after that run was cancelled were answered with the
    cancelled run (the key's), which would never draw them, and the hold ended at the next
    look, for ever. Now a run found final makes the next key's run."""
    _committed(engine, tmp_path, monkeypatch)

    def made() -> list[str]:
        return [p["flow_run_id"] for e, p in _events(engine) if e == "CeremonyRunCreated"]

    assert _ceremony(engine, api_adhoc.run_draw, "李协调") is None
    assert _ceremony(engine, api_adhoc.run_draw, "李协调") is None  # a retry: the same run
    [first] = made()
    _final(uuid.UUID(first), "CANCELLED")
    assert _ceremony(engine, api_adhoc.run_draw, "李协调") is None  # entered again
    assert made()[0] == first and len(made()) == 2 and made()[1] != first, made()
    assert runs.run_state(made()[1]) == "SCHEDULED"
    hold = workspace_adhoc.ceremony_hold(engine, KEY, ZONE)
    assert hold is not None and hold.live and hold.by == "李协调"
