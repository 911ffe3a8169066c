"""A class override's approval at once with another write of the classes: a second approval
of the same enterprise, a classification run (``risk classify``), a complaints import. What
must hold whichever order they meet in: an approved class is never overwritten in silence
nor an approval lost, and the audit log says what happened in the order it happened (the class
in force is that of the approval the log records last). Two threads, the interleaving forced
(``tests.races.held_while``); on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from risk import classify as classify_module
from risk import complaints, overrides
from risk import rules as risk_rules
from risk.classify import classes_in_force, classify
from rounds import audit
from shuangsui.config import get_settings
from tests.races import held_while
from tests.rounds.factories import seed_registry


def _coordinators(engine: sa.Engine) -> None:
    for name in ("陈明", "林芳"):
        tokens.create_coordinator(engine, name, get_settings().bureau_code)


def _log(engine: sa.Engine) -> list[tuple[str, dict]]:
    with Session(engine) as s:
        rows = audit.load_chain(s)
        audit.verify_chain(rows)
        return [(r.event, json.loads(r.payload)) for r in rows]


def _in_force(engine: sa.Engine, code: str) -> str | None:
    with engine.connect() as conn:
        return classes_in_force(conn).get(code)


def _last_approved(engine: sa.Engine, code: str) -> str:
    approved = [p for e, p in _log(engine) if e == "RiskOverrideApproved"]
    return str([p for p in approved if p["credit_code"] == code][-1]["risk_class"])


def test_two_approvals_of_one_enterprise_at_once_the_last_logged_is_in_force(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first approval held after it stamped its time, before its audit entry, while the
    second is approved and committed: then the first goes on."""
    code = seed_registry(engine, enterprises=2)[0]
    _coordinators(engine)
    first = overrides.request(engine, credit_code=code, risk_class="D", reason="现场发现问题",
                              by="陈明")  # fmt: skip
    second = overrides.request(engine, credit_code=code, risk_class="A", reason="整改完毕",
                               by="陈明")  # fmt: skip
    assert first.id is not None and second.id is not None
    held_while(
        monkeypatch,
        (audit, "add_to"),
        lambda: overrides.approve(engine, first.id, by="林芳"),  # type: ignore[arg-type]
        meanwhile=lambda: overrides.approve(engine, second.id, by="林芳"),  # type: ignore[arg-type]
    )
    approvals = [p["override_id"] for e, p in _log(engine) if e == "RiskOverrideApproved"]
    assert sorted(approvals) == sorted([first.id, second.id])  # neither lost
    assert _in_force(engine, code) == _last_approved(engine, code)


def test_an_approval_while_a_run_is_stored_stays_in_force(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run held after it scored every enterprise, before its transaction, while the
    override is approved; and the other way round: the approval held before its audit entry
    while a run is stored. The override is in force after the run either way."""
    codes = seed_registry(engine, enterprises=3)
    _coordinators(engine)
    rules = risk_rules.load()
    as_of = dt.date(2026, 11, 30)
    made = []
    for code, cls in zip(codes[:2], "DA", strict=True):
        row = overrides.request(engine, credit_code=code, risk_class=cls, reason="人工调整",
                                by="陈明")  # fmt: skip
        assert row.id is not None
        made.append(row.id)
    held_while(
        monkeypatch,
        (classify_module, "Session"),
        lambda: classify(engine, rules, as_of=as_of, by="定时任务"),
        meanwhile=lambda: overrides.approve(engine, made[0], by="林芳"),
    )
    monkeypatch.undo()
    held_while(
        monkeypatch,
        (overrides, "Session"),
        lambda: overrides.approve(engine, made[1], by="林芳"),
        meanwhile=lambda: classify(engine, rules, as_of=as_of, by="陈明"),
    )
    assert [_in_force(engine, c) for c in codes[:2]] == ["D", "A"]
    events = [e for e, _p in _log(engine)]
    assert events.count("RiskOverrideApproved") == 2 and events.count("RiskClassified") == 2


def test_an_approval_while_complaints_are_imported_is_kept(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code = seed_registry(engine, enterprises=2)[0]
    _coordinators(engine)
    row = overrides.request(engine, credit_code=code, risk_class="C", reason="投诉属实",
                            by="陈明")  # fmt: skip
    assert row.id is not None
    path = tmp_path / "upheld.csv"
    path.write_text(f"credit_code,ref,upheld_on\n{code},TS-1,2026-04-01\n", encoding="utf-8")
    done = held_while(
        monkeypatch,
        (complaints, "Session"),
        lambda: complaints.import_complaints(engine, path, by="定时任务"),
        meanwhile=lambda: overrides.approve(engine, row.id, by="林芳"),  # type: ignore[arg-type]
    )
    assert done == (1, 0)
    assert _in_force(engine, code) == "C"
    events = [e for e, _p in _log(engine)]
    assert events.count("RiskOverrideApproved") == 1
    assert events.count("RiskComplaintsImported") == 1
