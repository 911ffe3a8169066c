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
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from rounds.preflight import Frames, build_frames
from shuangsui.config import get_settings
from shuangsui.db import one_moment
from tests.races import held_while
from tests.rounds.factories import plan_yaml, seed_registry

ROUND = "ccc-2026-12"
RULES = risk_rules.load()


def _frame_classes(engine: sa.Engine) -> dict[str, str]:
    with Session(engine) as session:
        data = artifacts.artifact(session, ROUND, "frame-enterprises.jsonl")
    return {row["credit_code"]: row["risk_class"] for row in map(json.loads, data.splitlines())}


def _classified(engine: sa.Engine) -> tuple[int, str, Callable[[], int]]:
    """The first run, the enterprise whose override to D awaits approval, and what stores a
    second run and approves that override (the second run's id)."""
    codes = seed_registry(engine, enterprises=40)
    for name in ("陈明", "林芳"):
        create_coordinator(engine, name, get_settings().bureau_code)
    read = classify(engine, RULES, as_of=dt.date(2026, 11, 30), by="陈明")
    target = codes[5]
    asked = overrides.request(engine, credit_code=target, risk_class="D", reason="投诉核实",
                              by="陈明")  # fmt: skip
    assert asked.id is not None

    def later() -> int:
        run = classify(engine, RULES, as_of=dt.date(2026, 12, 1), by="林芳").run_id
        assert asked.id is not None
        overrides.approve(engine, asked.id, by="林芳")
        return run

    return read.run_id, target, later


def test_a_run_and_an_override_stored_while_the_frame_is_read_are_not_the_rounds(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, target, store_later = _classified(engine)
    later: list[int] = []

    def meanwhile() -> None:  # the registry read, the commit time not yet taken
        later.append(store_later())

    held_while(
        monkeypatch,
        (rounds, "preflight"),
        lambda: rounds.commit_round(
            engine=engine, plan_text=plan_yaml(plan_id=ROUND), accept="test"
        ),
        meanwhile=meanwhile,
    )
    _bundle_names_the_frames_read(engine, tmp_path, target, first, later[0])


def test_a_frame_built_in_the_same_thread_before_the_commit_records_is_not_the_rounds(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the commit records comes with its own frame, not from the last frame built where
    it runs: another frame (a preview) built in the commit's thread after a second run was
    stored, between the commit's read and its record, is not the round's."""
    first, target, store_later = _classified(engine)
    later: list[int] = []
    real = rounds.preflight

    def preflight_then_a_preview(conn: sa.Connection, plan: Any, **kw: Any) -> Any:
        report = real(conn, plan, **kw)
        later.append(store_later())
        with one_moment(engine) as other:
            assert _classes_of(build_frames(other, plan))[target] == "D"
        return report

    monkeypatch.setattr(rounds, "preflight", preflight_then_a_preview)
    rounds.commit_round(engine=engine, plan_text=plan_yaml(plan_id=ROUND), accept="test")
    _bundle_names_the_frames_read(engine, tmp_path, target, first, later[0])


def _classes_of(built: Frames) -> dict[str, str]:
    return {unit.credit_code: unit.risk_class for unit in built.enterprises}


def _bundle_names_the_frames_read(
    engine: sa.Engine, tmp_path: Path, target: str, first: int, later: int
) -> None:
    """The round's frame carries ``target``'s class of run ``first`` (A), D is in force now,
    and the round's bundle names run ``first``, no override, and the frame's classes, which
    its check confirms."""
    frame = _frame_classes(engine)
    assert frame[target] == "A"  # read before the approval
    with engine.connect() as conn:
        assert classes_in_force(conn)[target] == "D"  # in force now: the next round's
    out = write_bundle(engine, ROUND, tmp_path / "risk")
    meta = json.loads((out / "classification.json").read_text(encoding="utf-8"))
    assert meta["run_id"] == first != later
    entries = [json.loads(line) for line in (out / "classes.jsonl").read_text().splitlines()]
    assert {e["credit_code"]: e["in_force"] for e in entries} == frame
    assert not any("override" in e for e in entries)
    checked = run_check(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"OK: {len(frame)} classes confirmed" in checked.stdout
