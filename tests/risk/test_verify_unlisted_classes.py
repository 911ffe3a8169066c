"""A round's folder in the data directory as shuangsui lays it out: its bundle (the public one,
then the auditor's over it) and, in ``risk/``, its classification bundle. Both verifiers
accept what shuangsui wrote and name a file put beside it, in one line, exit 1 (it was
passed over in silence). On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from risk import rules as risk_rules
from risk.bundle import run_check, write_bundle
from risk.classify import classify
from rounds import service as rounds
from rounds.bundle import bundle_dir, bundle_round, run_verify_script
from tests.rounds.factories import plan_yaml, seed_registry

ROUND = "ccc-2026-12"  # plan_yaml()'s


def _drawn(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=20)
    classify(engine, risk_rules.load(), as_of=dt.date(2026, 11, 30))
    rounds.commit_round(engine=engine, plan_text=plan_yaml(), accept="test: classes")
    entropy = rounds.EntropyInput(witness_digits="3141592653589793238462643", witnesses=("张三",))
    rounds.draw_round(engine=engine, round_key=ROUND, entropy=entropy)


def test_the_data_folder_layout_verifies_and_an_added_file_is_named(
    engine: sa.Engine, tmp_path: Path
) -> None:
    _drawn(engine)
    folder = bundle_dir(tmp_path, ROUND)  # bundles/ROUND, where the round flow writes
    bundle_round(engine, ROUND, folder)  # public
    bundle_round(engine, ROUND, folder, "auditor")
    classes = write_bundle(engine, ROUND, folder / "risk")  # `risk bundle`'s default
    draw_ok, classes_ok = run_verify_script(folder), run_check(classes)
    assert draw_ok.returncode == 0, draw_ok.stdout
    assert "risk/: the round's classification bundle" in draw_ok.stdout
    assert classes_ok.returncode == 0, classes_ok.stderr

    (folder / "frame-inspectors-v2.jsonl").write_bytes(b"{}\n")
    refused = run_verify_script(folder)
    assert refused.returncode == 1
    assert refused.stdout.splitlines()[-1] == (
        "FAIL: MANIFEST.sha256: frame-inspectors-v2.jsonl is in the bundle but not listed"
    )

    for extra in ("classes-v2.jsonl", "notes/"):
        if extra.endswith("/"):
            (classes / extra).mkdir()
        else:
            (classes / extra).write_bytes(b"{}\n")
        said = run_check(classes)
        assert said.returncode == 1 and said.stdout == ""
        assert said.stderr.splitlines() == [
            f"FAILED: {extra} is in the bundle but not one of its files (rules.json, "
            "rules.yaml, classification.json, classes.jsonl, frame-enterprises.jsonl, "
            "verify_classes.py)"
        ]
        if extra.endswith("/"):
            (classes / extra).rmdir()
        else:
            (classes / extra).unlink()
    assert run_check(classes).returncode == 0
