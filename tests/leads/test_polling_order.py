"""A program polling ``GET /leads`` walks on from its last ``after`` and misses no lead.

Lead ids come from a sequence on PostgreSQL, taken at insert: transaction A took id 1 and stayed
open, B took id 2 and committed, a poll saw 2 and moved its cursor past it, then A committed
lead 1 behind the cursor, where no later poll looked. Every path that records a lead (the
API's and the workspace's intake, ``leads import``, a partner's assistance request) now takes
the leads' intake lock before the id (``leads.service.lock_intake``), so B waits for A and ids
are committed in order. Each path holds A open, each path is B: 3 x 3 real transactions on
PostgreSQL, in threads, every wait bounded. (SQLite has one writer at a time: nothing to
interleave.)"""

from __future__ import annotations

import datetime as dt
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api import paging, tokens
from api.app import create_app
from leads import hooks, service
from leads.importer import import_leads
from leads.models import Lead, LeadSource
from leads.schemas import LeadIn
from registry.io import write_table
from shuangsui.config import get_settings
from tests.leads.helpers import outside_code

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PATHS = ["receive", "import", "partner"]
WAIT = 30  # seconds any step may take before the test fails, naming it


def _receive(engine: sa.Engine, name: str, tmp: Path) -> None:
    data = LeadIn(source=LeadSource.complaint, credit_code=outside_code(), category=name,
                  received_on=dt.date(2026, 11, 2))  # fmt: skip
    service.receive(engine, data, by="王五")


def _import(engine: sa.Engine, name: str, tmp: Path) -> None:
    path = tmp / f"{name}.csv"
    write_table(path, ["来源", "统一社会信用代码", "线索类别", "收到日期"],
                [["投诉举报", outside_code(), name, "2026-11-02"]])  # fmt: skip
    import_leads(engine, path, imported_by="王五")


def _partner(
    engine: sa.Engine, name: str, tmp: Path, held: Callable[[], None] = lambda: None
) -> None:
    """The pull's transaction opening an assistance case (``exchange.apply``) and its hook."""
    case = SimpleNamespace(requester="310000", request_id=name, credit_code=outside_code(),
                           reason="协查")  # fmt: skip
    with Session(engine) as session:
        hooks.lead_from_assistance(session, case)
        session.flush()  # the pull's later reads flush it: the lead's id is taken here
        held()
        session.commit()


INTAKES = {"receive": _receive, "import": _import, "partner": _partner}


def _held_after_its_id(
    monkeypatch: pytest.MonkeyPatch, path: str, reached: threading.Event, go: threading.Event
) -> Callable[[sa.Engine, str, Path], None]:
    """Intake ``path`` held inside its transaction, its lead's id taken, until ``go``."""

    def hold() -> None:
        reached.set()
        assert go.wait(WAIT * 2), "the test never let transaction A commit"

    if path == "partner":
        return lambda engine, name, tmp: _partner(engine, name, tmp, hold)
    real = service.received_event  # after the flush, in the transaction (receive and import)

    def held(lead: Lead) -> Any:
        if not reached.is_set():
            hold()
        return real(lead)

    monkeypatch.setattr(service, "received_event", held)
    return INTAKES[path]


def _waiting_for_a_lock(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )).scalar_one())  # fmt: skip


def _ends_or_waits(engine: sa.Engine, pending: Future[None]) -> None:
    """Until B has committed (no lock) or waits for A's (the lock): either, within WAIT."""
    deadline = time.monotonic() + WAIT
    while not pending.done() and not _waiting_for_a_lock(engine):
        assert time.monotonic() < deadline, "B neither committed nor waited for a lock"
        time.sleep(0.01)


class Poller:
    """A program reading ``GET /leads`` page by page, keeping the key of the last lead seen."""

    def __init__(self, engine: sa.Engine) -> None:
        token = tokens.create_coordinator(engine, "王五", get_settings().bureau_code)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.client = TestClient(create_app(engine=engine))
        self.after: str | None = None
        self.seen: list[int] = []

    def poll(self) -> None:
        params: dict[str, Any] = {"limit": 1} | ({"after": self.after} if self.after else {})
        r = self.client.get("/leads", params=params, headers=self.auth)
        while True:
            assert r.status_code == 200, r.text
            self.seen += [lead["id"] for lead in r.json()]
            if "next" not in r.links:
                break
            r = self.client.get(r.links["next"]["url"], headers=self.auth)
        if self.seen:
            self.after = paging.encode((self.seen[-1],))


@pytest.mark.parametrize("first", PATHS)
@pytest.mark.parametrize("second", PATHS)
def test_a_lead_committed_after_a_later_id_is_not_behind_the_cursor(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str, second: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's sequence; SQLite has one writer at a time")
    poller = Poller(engine)
    reached, go = threading.Event(), threading.Event()
    a = _held_after_its_id(monkeypatch, first, reached, go)
    with ThreadPoolExecutor(2) as pool:
        try:
            held = pool.submit(a, engine, "A", tmp_path)
            assert reached.wait(WAIT), "transaction A never took its lead's id"
            other = pool.submit(INTAKES[second], engine, "B", tmp_path)
            _ends_or_waits(engine, other)
            poller.poll()  # on the old code: B, and the cursor past A's id
        finally:
            go.set()
        held.result(WAIT)
        other.result(WAIT)
    poller.poll()
    with Session(engine) as session:
        recorded = session.exec(select(col(Lead.id)).order_by(col(Lead.id))).all()
    assert len(recorded) == 2
    assert sorted(poller.seen) == recorded, (
        f"the poller saw {poller.seen} of {recorded}: a lead committed behind its cursor"
    )
