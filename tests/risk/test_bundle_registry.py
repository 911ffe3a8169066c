"""``registry: true`` in a classification bundle says an enterprise was outside the run in
force, so its class is the registry's. The bundle cannot show that, and the check took it on
trust and printed it among what it had verified: a classified enterprise flipped to
``registry: true`` (hiding its inputs and a class its rules do not give) passed unremarked.
Now it is named as not checked, and an entry that claims both is refused. On SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from registry.models import Enterprise
from risk import rules as risk_rules
from risk.bundle import run_check, write_bundle
from risk.classify import classify
from rounds import artifacts
from rounds import service as rounds
from tests.rounds.factories import plan_yaml, seed_registry

ROUND = "ccc-2026-12"  # plan_yaml()'s
CLASSIFIED = ("inputs", "input_digest", "score", "class")


def _set_status(engine: sa.Engine, code: str, status: str) -> None:
    with Session(engine) as session:
        ent = session.get(Enterprise, code)
        assert ent is not None
        ent.status = status  # type: ignore[assignment]
        session.add(ent)
        session.commit()


def _entries(path: Path) -> dict[str, dict[str, Any]]:
    lines = (path / "classes.jsonl").read_text(encoding="utf-8").splitlines()
    return {e["credit_code"]: e for e in map(json.loads, lines)}


def _rewrite(path: Path, code: str, change) -> None:  # type: ignore[no-untyped-def]
    entries = _entries(path)
    change(entries[code])
    text = "".join(
        json.dumps(e, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
        for e in entries.values()
    )
    (path / "classes.jsonl").write_text(text, encoding="utf-8")


def test_a_registry_class_is_said_unchecked_and_a_flipped_claim_is_caught(
    engine: sa.Engine, tmp_path: Path
) -> None:
    codes = seed_registry(engine, enterprises=20)
    late = codes[3]  # deregistered when classified, active again when the round is committed
    _set_status(engine, late, "deregistered")
    run = classify(engine, risk_rules.load(), as_of=dt.date(2026, 11, 30))
    _set_status(engine, late, "active")
    rounds.commit_round(engine=engine, plan_text=plan_yaml(), accept="test: classes")
    with Session(engine) as session:
        frame = artifacts.artifact(session, ROUND, "frame-enterprises.jsonl").splitlines()
    assert len(frame) == 20

    honest = write_bundle(engine, ROUND, tmp_path / "honest")
    assert _entries(honest)[late]["registry"] is True
    ok = run_check(honest)
    assert ok.returncode == 0, ok.stderr
    first, second = ok.stdout.splitlines()
    assert first.startswith("OK: 19 classes confirmed") and first.endswith("1 NOT CHECKED (below)")
    assert second.startswith("NOT CHECKED: 1 class") and f"run {run.run_id}" in second
    assert late in second

    # a classified enterprise said to be outside the run: its inputs and class go unseen
    flipped = write_bundle(engine, ROUND, tmp_path / "flipped")
    hidden = codes[5]
    assert "inputs" in _entries(flipped)[hidden]

    def flip(entry: dict[str, Any]) -> None:
        for key in CLASSIFIED:
            del entry[key]
        entry["registry"] = True

    _rewrite(flipped, hidden, flip)
    said = run_check(flipped)
    assert said.returncode == 0, said.stderr
    assert "OK: 18 classes confirmed" in said.stdout
    unchecked = said.stdout.splitlines()[1]
    assert unchecked.startswith("NOT CHECKED: 2 classes") and hidden in unchecked

    # the claim added beside a classification: one of the two is false
    both = write_bundle(engine, ROUND, tmp_path / "both")
    _rewrite(both, hidden, lambda e: e.__setitem__("registry", True))
    failed = run_check(both)
    assert failed.returncode == 1 and hidden in failed.stderr
    assert "registry: true" in failed.stderr and "inputs" in failed.stderr
