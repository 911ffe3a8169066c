"""Overrides requested and approved at once (PostgreSQL, where two transactions write at once;
SQLite's writers take turns at the database's write lock).

Two coordinators each asking for an override as the other's is being recorded: the second read
the audit chain's head before the first committed, its append then met the first's at the flush
(``audit.add_to``), outside the retry, which covered only the commit: a raw ``IntegrityError``.
Two coordinators approving one override at once: the second waited for the first's row, then
approved it again (its name over the first's, a second ``RiskOverrideApproved``); now refused.
A classification stored as an override is requested met it as the second request did."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from risk import overrides
from risk import rules as risk_rules
from risk.classify import classify
from risk.models import OverrideStatus, RiskOverride
from rounds import audit
from shuangsui.config import get_settings
from shuangsui.errors import Conflict
from tests.races import assert_blocked
from tests.rounds.factories import seed_registry


@pytest.fixture
def pg(engine: sa.Engine) -> sa.Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's concurrent writers; SQLite's take turns at the write lock")
    for name in ("陈明", "林晓", "黄海"):
        tokens.create_coordinator(engine, name, get_settings().bureau_code)
    return engine


def _first_held_after_its_append(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The first ``audit.add_to`` waits, its event flushed and not committed, until ``go``."""
    appended, go = threading.Event(), threading.Event()
    real = audit.add_to
    first = threading.Lock()

    def held(*args: Any, **kwargs: Any) -> Any:
        row = real(*args, **kwargs)
        if first.acquire(blocking=False):
            appended.set()
            assert go.wait(60), "the test never let the first go on"
        return row

    monkeypatch.setattr(audit, "add_to", held)
    return appended, go


def _events(engine: sa.Engine, name: str) -> int:
    with Session(engine) as s:
        return [e.event for e in audit.load_chain(s)].count(name)


def test_two_overrides_requested_at_once_are_both_recorded(
    pg: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = seed_registry(pg, enterprises=3)[:2]
    appended, go = _first_held_after_its_append(monkeypatch)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(overrides.request, pg, credit_code=a, risk_class="D",
                            reason="核查属实", by="陈明")  # fmt: skip
        try:
            assert appended.wait(30)
            second = pool.submit(overrides.request, pg, credit_code=b, risk_class="C",
                                 reason="复查", by="林晓")  # fmt: skip
            assert_blocked(pg, second, "the second request did not wait for the first's append")
        finally:
            go.set()
        rows = [first.result(60), second.result(60)]
    assert [r.credit_code for r in rows] == [a, b]
    assert _events(pg, "RiskOverrideRequested") == 2
    audit.check_chain(pg)
    with Session(pg) as s:
        assert len(s.exec(select(RiskOverride)).all()) == 2


def test_one_override_approved_twice_at_once_is_approved_once(
    pg: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = seed_registry(pg, enterprises=3)[0]
    asked = overrides.request(pg, credit_code=code, risk_class="D", reason="核查属实", by="陈明")
    assert asked.id is not None
    appended, go = _first_held_after_its_append(monkeypatch)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(overrides.approve, pg, asked.id, by="林晓")
        try:
            assert appended.wait(30)
            second = pool.submit(overrides.approve, pg, asked.id, by="黄海")
            assert_blocked(pg, second, "the second approval did not wait for the first")
        finally:
            go.set()
        approved = first.result(60)
        with pytest.raises(Conflict, match=rf"override {asked.id} is approved already"):
            second.result(60)
    assert (approved.status, approved.approved_by) == (OverrideStatus.approved, "林晓")
    with Session(pg) as s:
        row = s.get(RiskOverride, asked.id)
        assert row is not None and row.approved_by == "林晓"
    assert _events(pg, "RiskOverrideApproved") == 1


def test_a_classification_stored_as_an_override_is_requested(
    pg: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``risk classify`` appends its ``RiskClassified`` the same way: its append met the
    request's at the flush, outside its retry: a raw ``IntegrityError``, the run not stored."""
    code = seed_registry(pg, enterprises=3)[0]
    appended, go = _first_held_after_its_append(monkeypatch)
    with ThreadPoolExecutor(2) as pool:
        asked = pool.submit(overrides.request, pg, credit_code=code, risk_class="D",
                            reason="核查属实", by="陈明")  # fmt: skip
        try:
            assert appended.wait(30)
            as_of = dt.date(2026, 11, 30)
            run = pool.submit(classify, pg, risk_rules.load(), as_of=as_of, by="林晓")
            assert_blocked(pg, run, "the classification did not wait for the request's append")
        finally:
            go.set()
        asked.result(60)
        stored = run.result(60)
    assert stored.enterprises == 3
    assert _events(pg, "RiskClassified") == 1
    audit.check_chain(pg)
