"""Two publishes into two folders of one database at once (the daily ``publish-results`` flow
and an operator's ``shuangsui publish --out elsewhere``): their folders' writer locks do not
make them take turns, so both may have read the same results as not yet published. Both end
without error, each result is recorded as published once, and the partner log has it once.

The interleaving is forced: the first publish is held once it has read what it will record
(before recording it, or inside its recording transaction) while the second runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from exchange.models import ExchangeEntry
from rounds.models import AuditEvent
from tests.crash.test_kill_publish import _recorded, _tree, _world
from website import site
from website.output import PublishReport
from website.site import publish

FIRST = "first-publish"
RESULTS = 2


def _shared(engine: sa.Engine) -> dict[str, int]:
    """How many entries of each kind the partner log holds."""
    with Session(engine) as s:
        rows = s.exec(
            select(ExchangeEntry.kind, func.count()).group_by(col(ExchangeEntry.kind))
        ).all()
    return {kind: int(n) for kind, n in rows}


def _publications(engine: sa.Engine) -> int:
    with Session(engine) as s:
        found = s.exec(select(func.count()).where(col(AuditEvent.event) == "ResultPublished"))
        return int(found.one())


def _first_held_while_second_runs(
    engine: sa.Engine, tmp_path: Path, hold: threading.Event, go: threading.Event,
    second_waits: Callable[[], bool] | None = None,
) -> tuple[PublishReport, PublishReport]:  # fmt: skip
    """The first publish (into ``a``) runs in its own thread until it sets ``hold``; the
    second (into ``b``) then runs, to its end or (``second_waits``) until it waits on the
    first; ``go`` lets the first go on. Both reports."""

    def first() -> PublishReport:
        threading.current_thread().name = FIRST
        return publish(engine, tmp_path / "a", bundles=False)

    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(first)
        try:
            assert hold.wait(120), f"the first publish never got to recording: {one}"
            two = pool.submit(publish, engine, tmp_path / "b", bundles=False)
            if second_waits is None:
                two.result(300)
            else:
                deadline = time.monotonic() + 60
                while not two.done() and not second_waits() and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert not two.done(), "the second publish recorded while the first was"
                assert second_waits(), "the second publish never waited for the first"
        finally:
            go.set()
        return one.result(300), two.result(300)


def _each_result_once(engine: sa.Engine, tmp_path: Path, reports: tuple[Any, Any]) -> None:
    assert sorted(r.newly_published for r in reports) == [0, RESULTS]
    assert _recorded(engine) == (RESULTS, RESULTS)
    assert _shared(engine).get("result") == RESULTS and "correction" not in _shared(engine)
    assert _publications(engine) == 1  # one ResultPublished: the publish that recorded them
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_a_publish_that_read_what_another_recorded_since_records_nothing_twice(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(engine, findings=RESULTS)
    hold, go = threading.Event(), threading.Event()
    real = site._record

    def held_before_recording(*args: Any, **kw: Any) -> Any:
        if threading.current_thread().name == FIRST:
            hold.set()
            assert go.wait(120), "the test never let the first publish go on"
        return real(*args, **kw)

    monkeypatch.setattr(site, "_record", held_before_recording)
    reports = _first_held_while_second_runs(engine, tmp_path, hold, go)
    assert [r.newly_published for r in reports] == [0, RESULTS]
    _each_result_once(engine, tmp_path, reports)


@pytest.mark.postgres
def test_a_publish_waits_while_another_records_then_records_nothing_twice(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first publish is held inside its recording transaction: the second waits on it (a
    table lock on PostgreSQL), then finds every result recorded. (SQLite: the second waits for
    the database's write lock, which this test cannot watch.)"""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's lock waits are visible in pg_stat_activity")
    _world(engine, findings=RESULTS)
    hold, go = threading.Event(), threading.Event()

    def held_while_recording(session: Session, versions: list[Any]) -> None:
        if threading.current_thread().name == FIRST:
            hold.set()
            assert go.wait(120), "the test never let the first publish go on"

    def second_waits() -> bool:
        with engine.connect() as conn:
            waiting = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND wait_event = 'relation'"
                )
            ).scalar_one()
        return int(waiting) == 1

    hooks = [held_while_recording, *site.after_record_hooks]
    monkeypatch.setattr(site, "after_record_hooks", hooks)
    reports = _first_held_while_second_runs(engine, tmp_path, hold, go, second_waits)
    assert [r.newly_published for r in reports] == [RESULTS, 0]
    _each_result_once(engine, tmp_path, reports)
