"""A round's classification bundle names the classification the round's frame read, whatever
was stored while the commit went on. The commit reads the classes in force with the registry
(the frame), then takes its commit time; the bundle took the run and the overrides in force at
that commit time, so a run stored or an override approved while the registry was being read
(seconds, for a province's registry) was in the bundle and not in the frame: the round's own
check failed (``frame carries A, the class in force is D``) for a round committed as it
should be. The commit forced to meet them (``tests.races.held_while``); SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api.tokens import create_coordinator
from risk import overrides
from risk import rules as risk_rules
from risk.bundle import run_check, write_bundle
from risk.classify import classes_in_force, classify
from rounds import artifacts
from rounds import service as rounds
from shuangsui.config import get_settings
from tests.races import held_while
from tests.rounds.factories import plan_yaml, seed_registry

ROUND = "ccc-2026-12"
RULES = risk_rules.load()


def _frame_classes(engine: sa.Engine) -> dict[str, str]:
    with Session(engine) as session:
        data = artifacts.artifact(session, ROUND, "frame-enterprises.jsonl")
    return {row["credit_code"]: row["risk_class"] for row in map(json.loads, data.splitlines())}


def test_a_run_and_an_override_stored_while_the_frame_is_read_are_not_the_rounds(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = seed_registry(engine, enterprises=40)
    for name in ("陈明", "林芳"):
        create_coordinator(engine, name, get_settings().bureau_code)
    read = classify(engine, RULES, as_of=dt.date(2026, 11, 30), by="陈明")
    target = codes[5]
    asked = overrides.request(engine, credit_code=target, risk_class="D", reason="投诉核实",
                              by="陈明")  # fmt: skip
    assert asked.id is not None
    later: list[int] = []

    def meanwhile() -> None:  # the registry read, the commit time not yet taken
        later.append(classify(engine, RULES, as_of=dt.date(2026, 12, 1), by="林芳").run_id)
        assert asked.id is not None
        overrides.approve(engine, asked.id, by="林芳")

    held_while(
        monkeypatch,
        (rounds, "preflight"),
        lambda: rounds.commit_round(
            engine=engine, plan_text=plan_yaml(plan_id=ROUND), accept="test"
        ),
        meanwhile=meanwhile,
    )

    frame = _frame_classes(engine)
    assert frame[target] == "A"  # read before the approval
    with engine.connect() as conn:
        assert classes_in_force(conn)[target] == "D"  # in force now: the next round's
    out = write_bundle(engine, ROUND, tmp_path / "risk")
    meta = json.loads((out / "classification.json").read_text(encoding="utf-8"))
    assert meta["run_id"] == read.run_id != later[0]
    entries = [json.loads(line) for line in (out / "classes.jsonl").read_text().splitlines()]
    assert {e["credit_code"]: e["in_force"] for e in entries} == frame
    assert not any("override" in e for e in entries)
    checked = run_check(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"OK: {len(frame)} classes confirmed" in checked.stdout
