"""Pinned draws: every committed vector through the numpy path AND the stdlib reference."""

import json
from pathlib import Path
from typing import Any

import pytest

from draw.errors import InfeasibleDraw

from .vectors import VECTOR_DIR, load_reference, run_core, run_reference

VECTORS = sorted(VECTOR_DIR.glob("*.json"))
BREAKING = "test vector {name} changed: this is a BREAKING change to every published draw"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_enough_vectors() -> None:
    names = {p.stem for p in VECTORS}
    assert {"tiny-uniform", "weighted", "targeted", "teams", "large-2000"} <= names
    assert len(load(VECTOR_DIR / "large-2000.json")["inputs"]["enterprises"]) == 2000


def _first_difference(got: dict[str, Any], want: dict[str, Any]) -> str:
    for key in want:
        if got.get(key) != want[key]:
            return f"first difference in {key!r}"
    return "extra keys"


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
@pytest.mark.parametrize("implementation", ["numpy", "stdlib-reference"])
def test_vector(path: Path, implementation: str) -> None:
    doc = load(path)
    ref = load_reference()
    message = BREAKING.format(name=doc["name"])
    run = run_core if implementation == "numpy" else (lambda d: run_reference(d, ref))
    if "expected_error" in doc:
        errors = (InfeasibleDraw,) if implementation == "numpy" else (ref.Infeasible,)
        with pytest.raises(errors) as err:
            run(doc["inputs"])
        assert str(err.value) == doc["expected_error"], message
        return
    got = run(doc["inputs"])
    want = doc["expected"]
    assert got == want, f"{message} ({implementation}: {_first_difference(got, want)})"


def test_tiny_vector_is_hand_checkable() -> None:
    """Recompute the tiny vector's selection from its seed with hashlib alone."""
    import hashlib

    doc = load(VECTOR_DIR / "tiny-uniform.json")
    seed = bytes.fromhex(doc["expected"]["seed"])
    by_stratum: dict[str, list[tuple[bytes, str]]] = {}
    for e in doc["inputs"]["enterprises"]:
        code = e["credit_code"].encode()
        t = hashlib.sha256(seed + len(code).to_bytes(4, "big") + code).digest()
        by_stratum.setdefault(e["stratum"], []).append((t, e["credit_code"]))
    # A: 4 units at 25% -> ceil(1.0) = 1; B: 6 units at 50% -> 3
    expected = [c for _, c in sorted(by_stratum["A"])[:1]] + [
        c for _, c in sorted(by_stratum["B"])[:3]
    ]
    assert [s["credit_code"] for s in doc["expected"]["selected"]] == expected


def test_teams_vector_exercises_every_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from draw.teams import RULES

    from . import naive_teams

    seen: set[str | None] = set()
    original = naive_teams.elimination

    def spy(*args: Any) -> str | None:
        rule = original(*args)
        seen.add(rule)
        return rule

    monkeypatch.setattr(naive_teams, "elimination", spy)
    doc = load(VECTOR_DIR / "teams.json")
    inputs = doc["inputs"]
    from draw.core import draw

    from .vectors import inputs_from_json

    result = draw(inputs_from_json(inputs)).to_json()
    order = sorted(result["selected"], key=lambda s: (s["ticket"], s["credit_code"]))
    by_code = {e["credit_code"]: e for e in inputs["enterprises"]}
    teams, _ = naive_teams.draw_teams(
        bytes.fromhex(result["seed"]), inputs["plan"], [by_code[s["credit_code"]] for s in order],
        inputs["inspectors"], {tuple(p) for p in inputs["conflicts"]},
        {tuple(p) for p in inputs["recent"]},
    )  # fmt: skip
    assert teams == result["teams"]
    assert seen == {*RULES, None}
