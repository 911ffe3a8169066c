"""Findings of a round change classes; the next round's frame commits them; the stdlib check
recomputes every class of that real frame and fails naming the enterprise when one input or
one class is changed. On SQLite and PostgreSQL."""

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
from risk.explain import explain
from rounds import artifacts
from rounds import service as rounds
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, final_finding, teams
from tests.rounds.factories import plan_yaml, seed_registry

NEXT = "ccc-2027-01"
DIGITS = "3141592653589793238462643"
RULES = risk_rules.load()


def _draw(engine: sa.Engine, key: str, period: str) -> None:
    rounds.commit_round(
        engine=engine, plan_text=plan_yaml(plan_id=key, period=period), accept="test: new classes"
    )
    rounds.draw_round(
        engine=engine,
        round_key=key,
        entropy=rounds.EntropyInput(witness_digits=DIGITS, witnesses=("张三",)),
    )


def _frame(engine: sa.Engine, key: str) -> dict[str, dict]:
    with Session(engine) as session:
        data = artifacts.artifact(session, key, "frame-enterprises.jsonl")
    return {row["credit_code"]: row for row in map(json.loads, data.splitlines())}


def _rewrite(path: Path, code: str, change) -> None:  # type: ignore[no-untyped-def]
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["credit_code"] == code:
            change(row)
        lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_findings_change_classes_and_the_next_frame_commits_them(
    engine: sa.Engine, tmp_path: Path
) -> None:
    codes = seed_registry(engine, enterprises=60)
    first = classify(engine, RULES, as_of=dt.date(2026, 11, 30), by="陈明")
    assert first.enterprises == 60 and first.counts == {"A": 60}  # nobody checked yet: 5 points
    _draw(engine, ROUND, "2026-12")
    frame1 = _frame(engine, ROUND)
    # the frame carries the classification's classes, not the registry's
    assert {row["risk_class"] for row in frame1.values()} == {"A"}

    drawn = teams(engine)
    bad, worse, clean = sorted(drawn)[:3]
    final_finding(engine, bad, drawn[bad], result="nonconforming")
    number = f"2026010{codes.index(worse):09d}"  # tests/rounds/factories.py's numbering
    withdrawn = [{"body": "CQC", "number": number, "action": "withdrawn"}]
    final_finding(
        engine, worse, drawn[worse], result="certificate_withdrawn", certificates=withdrawn
    )
    final_finding(engine, clean, drawn[clean], result="no_problem")

    second = classify(engine, RULES, as_of=dt.date(2026, 12, 31))
    with engine.connect() as conn:
        now = classes_in_force(conn)
    assert (now[bad], now[worse], now[clean]) == ("C", "D", "A")  # 5+40, 5+60, -10
    assert second.counts == {"A": 58, "C": 1, "D": 1}

    _draw(engine, NEXT, "2027-01")
    frame2 = _frame(engine, NEXT)
    assert (frame2[bad]["risk_class"], frame2[worse]["risk_class"]) == ("C", "D")
    assert frame2[bad]["stratum"].endswith("/C") and frame2[clean]["risk_class"] == "A"
    assert frame1[bad]["risk_class"] == "A"  # the first round keeps what it committed

    why = explain(engine, worse)
    assert why["class"] == "D" and why["source"] == "classification"
    assert why["classification"]["inputs"]["findings"] == [["certificate_withdrawn", "2026-12-10"]]
    assert sum(p["points"] for p in why["classification"]["points"]) == 65
    assert [h["class"] for h in why["history"]] == ["A", "D"]

    # the stdlib check on the real round's bundle
    out = write_bundle(engine, NEXT, tmp_path / "risk")
    ok = run_check(out)
    assert ok.returncode == 0, ok.stderr
    assert f"OK: {len(frame2)} classes confirmed" in ok.stdout

    changed_input = tmp_path / "changed-input"
    write_bundle(engine, NEXT, changed_input)
    _rewrite(changed_input / "classes.jsonl", bad,
             lambda r: r["inputs"]["findings"][0].__setitem__(0, "no_problem"))  # fmt: skip
    failed = run_check(changed_input)
    assert failed.returncode == 1 and bad in failed.stderr and "digest" in failed.stderr

    changed_class = tmp_path / "changed-class"
    write_bundle(engine, NEXT, changed_class)
    _rewrite(changed_class / "frame-enterprises.jsonl", worse,
             lambda r: r.__setitem__("risk_class", "C"))  # fmt: skip
    failed = run_check(changed_class)
    assert failed.returncode == 1 and worse in failed.stderr and "frame carries C" in failed.stderr

    stated_class = tmp_path / "stated-class"
    write_bundle(engine, NEXT, stated_class)
    _rewrite(stated_class / "classes.jsonl", clean, lambda r: r.__setitem__("class", "B"))
    failed = run_check(stated_class)
    assert failed.returncode == 1 and clean in failed.stderr and "rules give" in failed.stderr


def test_an_override_needs_a_second_coordinator_and_the_frame_and_check_follow_it(
    engine: sa.Engine, tmp_path: Path
) -> None:
    codes = seed_registry(engine, enterprises=40)
    for name in ("陈明", "林芳"):
        create_coordinator(engine, name, "350000")
    classify(engine, RULES, as_of=dt.date(2026, 11, 30))
    target = codes[5]
    with pytest.raises(Exception, match="reason"):
        overrides.request(engine, credit_code=target, risk_class="D", reason=" ", by="陈明")
    with pytest.raises(Exception, match="class: must be one of"):
        overrides.request(engine, credit_code=target, risk_class="E", reason="x", by="陈明")
    with pytest.raises(Exception, match="not a coordinator"):
        overrides.request(engine, credit_code=target, risk_class="D", reason="x", by="nobody")
    row = overrides.request(
        engine, credit_code=target, risk_class="D", reason="投诉举报核实, 待立案", by="陈明"
    )
    with engine.connect() as conn:
        assert classes_in_force(conn)[target] == "A"  # pending: no effect
    assert explain(engine, target)["overrides"][0]["status"] == "pending"
    assert row.id is not None
    with pytest.raises(Exception, match="a second coordinator must approve"):
        overrides.approve(engine, row.id, by="陈明")
    overrides.approve(engine, row.id, by="林芳")
    with pytest.raises(Exception, match="approved already"):
        overrides.approve(engine, row.id, by="林芳")

    why = explain(engine, target)
    assert why["class"] == "D" and why["source"] == "override"
    assert why["override"]["approved_by"] == "林芳" and why["override"]["requested_by"] == "陈明"
    assert why["classification"]["class"] == "A"  # the computed class is still shown

    with engine.connect() as conn:
        events = [r[0] for r in conn.execute(sa.text("SELECT event FROM audit_event ORDER BY seq"))]
    assert "RiskOverrideRequested" in events and "RiskOverrideApproved" in events

    _draw(engine, ROUND, "2026-12")
    assert _frame(engine, ROUND)[target]["risk_class"] == "D"
    from typer.testing import CliRunner

    from shuangsui.cli import _register_groups, app

    _register_groups()
    made = CliRunner().invoke(app, ["risk", "bundle", ROUND])  # into the round's bundle folder
    assert made.exit_code == 0, made.output
    out = get_settings().home / "bundles" / ROUND / "risk"
    assert f"python3 -I -S {out / 'verify_classes.py'} {out}" in made.output
    ok = run_check(out)
    assert ok.returncode == 0, ok.stderr
    assert "(1 by an approved override)" in ok.stdout


def test_without_a_classification_the_registry_class_stands(engine: sa.Engine) -> None:
    codes = seed_registry(engine, enterprises=20)
    rounds.commit_round(engine=engine, plan_text=plan_yaml())
    with engine.connect() as conn:
        q = sa.text("SELECT credit_code, risk_class FROM enterprise")
        registry = {code: cls for code, cls in conn.execute(q)}
    frame = _frame(engine, ROUND)
    assert {c: frame[c]["risk_class"] for c in frame} == {c: registry[c] for c in frame}
    assert explain(engine, codes[0])["source"] == "registry"
