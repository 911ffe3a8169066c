"""A failed draw is verifiable too: its bundle re-runs the draw up to the failure.

Pure part: the "infeasible" vector (versions 1 and 2) through both audiences, confirmed by
`python3 -I -S verify.py DIR`, and every tampered failure claim caught. Database part: a round
that fails in the service gets a public bundle confirming the failure on pseudonyms.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from draw.bundle import failed_bundle_files, write_failed_bundle
from draw.canonical import canonical_json
from draw.core import DrawInputs
from rounds import service
from rounds.bundle import bundle_round, run_verify_script
from shuangsui.errors import InfeasibleDraw
from tests.rounds.factories import plan_yaml, seed_registry

from .test_bundle import run_verify
from .vectors import VECTOR_DIR, inputs_from_json
from .vectors_v2 import KEY

DIGITS = "31415926535897932384626433"


def _infeasible(version: int) -> DrawInputs:
    doc = json.loads((VECTOR_DIR / "infeasible.json").read_text("utf-8"))
    inputs = inputs_from_json(doc["inputs"])
    if version == 2:
        inputs = dataclasses.replace(inputs, version=2, pseudonym_key=KEY)
    return inputs


KINDS = [(1, "auditor"), (1, "public"), (2, "auditor"), (2, "public")]


@pytest.fixture(scope="module", params=KINDS, ids=lambda p: f"v{p[0]}-{p[1]}")
def failed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    version, audience = request.param
    out = tmp_path_factory.mktemp("failed") / "bundle"
    write_failed_bundle(out, _infeasible(version), {"bureau": "福建省"}, audience)
    return out


def test_a_failed_bundle_confirms_the_failure(failed: Path) -> None:
    rnd = json.loads((failed / "round.json").read_text("utf-8"))
    audience, version = rnd["audience"] if "audience" in rnd else "auditor", rnd["v"]
    names = sorted(p.name for p in failed.iterdir())
    assert names == sorted([*failed_bundle_files(audience, version), "MANIFEST.sha256"])
    assert "selection.json" not in names and rnd["outcome"] == "failed" and rnd["strata"]
    verdict = run_verify(failed)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    facts = json.loads((failed / "failure.json").read_text("utf-8"))
    assert f"OK: confirmed: the round fails: {facts['message']}" in verdict.stdout
    assert facts["shortfall"] >= 1 and facts["credit_code"] in facts["message"]
    if audience == "public":  # no leave, no declared conflict: only "not available"
        assert "leave" not in json.dumps(facts) and "FJ-" not in facts["message"]
    else:
        assert "leave" in facts["eliminated"] or "workload" in facts["eliminated"]


def _tamper(src: Path, dst: Path, name: str, change: dict) -> None:
    shutil.copytree(src, dst)
    doc = json.loads((dst / name).read_text("utf-8"))
    doc.update(change)
    (dst / name).write_bytes(canonical_json(doc) + b"\n")


@pytest.mark.parametrize(
    ("name", "change", "named"),
    [
        ("failure.json", {"shortfall": 0}, "failure.json: shortfall"),
        ("failure.json", {"credit_code": "91350100MA00000000"}, "failure.json: credit_code"),
        ("failure.json", {"rule": "conflict"}, "failure.json: rule"),
        ("failure.json", {"message": "no inspectors at all"}, "failure.json: message"),
        ("round.json", {"seed": "00" * 32}, "round.json: seed"),
        ("round.json", {"outcome": "drawn"}, "round.json: outcome"),
    ],
)
def test_a_tampered_failure_claim_is_caught(
    failed: Path, tmp_path: Path, name: str, change: dict, named: str
) -> None:
    bad = tmp_path / "bad"
    _tamper(failed, bad, name, change)
    verdict = run_verify(bad)
    assert verdict.returncode == 1, verdict.stdout
    assert named in verdict.stdout, verdict.stdout


def test_a_claimed_failure_of_a_draw_that_completes_is_caught(tmp_path: Path) -> None:
    """A round that drew fine cannot be passed off as failed (teams of 1, cap lifted)."""
    bundle = tmp_path / "claimed"
    write_failed_bundle(bundle, _infeasible(2), None, "public")
    plan = json.loads((bundle / "plan.json").read_text("utf-8"))
    plan["teams"]["workload_cap"] = 50
    (bundle / "plan.json").write_bytes(canonical_json(plan))
    verdict = run_verify(bundle)
    assert verdict.returncode == 1 and "plan hash" in verdict.stdout, verdict.stdout
    with pytest.raises(ValueError, match="does not fail"):
        inputs = _infeasible(2)
        fine = dict(inputs.plan, teams={**inputs.plan["teams"], "workload_cap": 50})
        write_failed_bundle(tmp_path / "fine", dataclasses.replace(inputs, plan=fine))


# ---------------------------------------------------------------- a round that fails for real
def test_a_failed_round_gets_a_public_bundle_confirming_the_failure(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine, inspectors=3)
    service.commit_round(engine=engine, plan_text=plan_yaml(size=4))
    with pytest.raises(InfeasibleDraw):
        service.draw_round(
            engine=engine,
            round_key="ccc-2026-12",
            entropy=service.EntropyInput(witness_digits=DIGITS, witnesses=("张三", "李四")),
        )
    rnd = service.get_round(engine, "ccc-2026-12")
    for audience in ("public", "auditor"):
        out = bundle_round(engine, "ccc-2026-12", tmp_path / audience, audience=audience)
        verdict = run_verify_script(out)
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr
        assert "confirmed: the round fails: " in verdict.stdout
        facts = json.loads((out / "failure.json").read_text("utf-8"))
        assert facts["shortfall"] >= 1 and facts["team_size"] == 4
        assert rnd.last_error is not None and facts["credit_code"] in rnd.last_error
    auditor = json.loads((tmp_path / "auditor" / "failure.json").read_text("utf-8"))
    assert auditor["message"] == rnd.last_error
