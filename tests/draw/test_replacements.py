"""Replacements after the draw (docs/draw-algorithm.md §14): the committed vectors through
draw.replace and through verify.py's standard-library code, and both held to each other pick
for pick on many random sequences, refusals included."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from draw.core import DrawInputs, DrawResult, draw
from draw.errors import InfeasibleDraw
from draw.frame import build_enterprise_frame, build_inspector_frame
from draw.plan import parse_plan
from draw.public import public_view
from draw.replace import NoReplacement, Replacement, Withdrawal, replay
from draw.teams import elimination_rule

from .factories import WITNESS, enterprise_rows, inspector_rows, plan_dict
from .replacing import Replacer, names_of
from .vectors import load_reference
from .vectors_replace import REPLACE_DIR, STEPS, build, source_inputs
from .vectors_v2 import KEY

VECTORS = sorted(REPLACE_DIR.glob("*.json"))
BREAKING = "replacement vector {} changed: a BREAKING change to every recorded replacement"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _drawn(doc: dict[str, Any]) -> tuple[DrawInputs, DrawResult]:
    inputs = source_inputs(doc["source"], doc["version"])
    result = draw(inputs)
    assert result.seed == doc["seed"], BREAKING.format(doc["name"])
    return inputs, result


def _recorded(doc: dict[str, Any]) -> list[Replacement]:
    return [
        Replacement(Withdrawal(e["n"], e["credit_code"], e["position"], e["withdrawn"],
                               e["cause"]), e["replacement"])
        for e in doc["expected"]["replacements"]
    ]  # fmt: skip


def test_the_vectors_are_those_defined() -> None:
    assert {p.stem for p in VECTORS} == set(STEPS)
    for path in VECTORS:
        assert _load(path) == build(path.stem), BREAKING.format(path.stem)


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector_through_draw_replace(path: Path) -> None:
    """pick_replacement withdrawal by withdrawal, and replay of the recorded ones."""
    doc = _load(path)
    inputs, result = _drawn(doc)
    replacer = Replacer(inputs, result)
    want = doc["expected"]
    for w in doc["withdrawals"]:
        assert replacer.member(w["credit_code"], w["position"]) == w["withdrawn"]
        if want["refused"] and w["n"] == want["refused"]["n"]:
            with pytest.raises(NoReplacement) as refused:
                replacer.withdraw(w["credit_code"], w["position"], w["cause"])
            assert str(refused.value) == want["refused"]["message"]
        else:
            replacer.withdraw(w["credit_code"], w["position"], w["cause"])
    assert [r.to_json() for r in replacer.recorded] == want["replacements"]
    assert replacer.teams() == want["teams"] and replacer.workloads() == want["workloads"]
    fresh = Replacer(inputs, result)  # replay on the names picks sort by
    names = names_of(inputs)
    renamed = [
        Replacement(dataclasses.replace(r.withdrawal, withdrawn=names[r.withdrawal.withdrawn]),
                    names[r.replacement])
        for r in _recorded(doc)
    ]  # fmt: skip
    now = replay(fresh.seed, fresh.plan, fresh.enterprises, fresh.inspectors, fresh.conflicts,
                 fresh.recent, fresh.now.teams, fresh.now.workloads, renamed)  # fmt: skip
    back = {p: i for i, p in names.items()}
    assert {c: [back[p] for p in t] for c, t in now.teams.items()} == want["teams"]


def _reference_pool(ref: ModuleType, inputs: DrawInputs, audience: str) -> tuple[Any, ...]:
    """(inspectors, conflicts, recent, level order, names) as verify.py reads a bundle."""
    if audience == "public":
        view = public_view(version=inputs.version, round_key=inputs.round_key, plan=inputs.plan,
                           inspectors=inputs.inspectors, conflicts=inputs.conflicts,
                           recent=inputs.recent_pairs, key=inputs.pseudonym_key)  # fmt: skip
        rows = [ref.as_inspector(u.to_json()) for u in view.inspectors]
        return rows, set(view.recused), set(), None, view.pseudonyms
    insps = [u.to_json() for u in sorted(inputs.inspectors, key=lambda u: u.inspector_id)]
    names = names_of(inputs)
    order = names.get if inputs.version >= 2 else None
    same = {i: i for i in names}
    return insps, set(inputs.conflicts), set(inputs.recent_pairs), order, same


def _facts(inputs: DrawInputs, result: DrawResult) -> dict[str, dict[str, Any]]:
    return {u.credit_code: u.to_json() for u in inputs.enterprises if u.credit_code in result.teams}


@pytest.mark.parametrize("audience", ["auditor", "public"])
@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector_through_verify_py(path: Path, audience: str) -> None:
    doc = _load(path)
    ref = load_reference()
    inputs, result = _drawn(doc)
    insps, conflicts, recent, order, names = _reference_pool(ref, inputs, audience)
    want = doc["expected"]
    entries = [{**e, "withdrawn": names[e["withdrawn"]], "replacement": names[e["replacement"]]}
               for e in want["replacements"]]  # fmt: skip
    if audience == "public" and doc["version"] >= 2:
        assert entries == doc["expected_public"]
    teams = {c: [names[i] for i in t] for c, t in result.teams.items()}
    loads = {names[i]: n for i, n in result.workloads.items()}
    facts = _facts(inputs, result)
    seed = bytes.fromhex(doc["seed"])
    lines: list[str] = []
    now = ref.replay_replacements(seed, inputs.plan, facts, insps, conflicts, recent, teams,
                                  loads, entries, order, lines.append)  # fmt: skip
    assert now.teams == {c: [names[i] for i in t] for c, t in want["teams"].items()}
    assert now.workloads == {names[i]: n for i, n in want["workloads"].items()}
    assert [line.split(" ok:")[0] for line in lines] == [f"replacement {e['n']}" for e in entries]
    if want["refused"]:
        w = doc["withdrawals"][want["refused"]["n"] - 1]
        entry = {**w, "withdrawn": names[w["withdrawn"]], "replacement": ""}
        with pytest.raises(ref.NoReplacement) as refused:
            ref.pick_replacement(seed, inputs.plan, facts[w["credit_code"]], insps, conflicts,
                                 recent, now, entry, order)  # fmt: skip
        if audience == "auditor" and doc["version"] == 1:
            assert str(refused.value) == want["refused"]["message"]


def test_the_large_vector_shows_each_case_of_section_14() -> None:
    """Every cause; a lead replaced; one seat replaced twice; a member withdrawn for a conflict
    picked for another team next; an unavailable member alone at the lowest workload yet kept
    off the next pick (and the one after its second withdrawal)."""
    doc = _load(REPLACE_DIR / "large-2000.json")
    done = doc["expected"]["replacements"]
    assert {e["cause"] for e in done} == {"conflict", "unavailable", "left"}
    assert done[0]["position"] == 0
    assert (done[0]["credit_code"], done[0]["position"]) == (done[2]["credit_code"], 0)
    assert done[1]["replacement"] == done[0]["withdrawn"]  # a conflict is one team's only
    inputs, result = _drawn(doc)
    replacer = Replacer(inputs, result)
    away = done[1]["withdrawn"]
    assert done[1]["cause"] == "unavailable" and done[3]["withdrawn"] == away
    for n, e in enumerate(done, 1):
        if n in (3, 5):  # after each withdrawal of ``away``: it alone would be the pick
            loads = replacer.workloads()
            team = replacer.teams()[e["credit_code"]]
            ent = next(u for u in inputs.enterprises if u.credit_code == e["credit_code"])
            others = [u for u in inputs.inspectors if u.inspector_id not in (*team, away)
                      and not elimination_rule(u, ent, inputs.plan, workload=loads.get(
                          u.inspector_id, 0))]  # fmt: skip
            assert all(loads[away] < loads.get(u.inspector_id, 0) for u in others)
            assert e["replacement"] != away
        replacer.withdraw(e["credit_code"], e["position"], e["cause"])


# ------------------------------------------------------------------ the two implementations
def _scenario(rng: random.Random, version: int) -> DrawInputs | None:
    """A round of 2,000 enterprises with a random inspector frame and random team rules (the
    draw may fail: None)."""
    kinds = ("CCC", "ORGANIC")
    count = rng.choice([5, 8, 20, 60])
    rows = enterprise_rows(2000, seed=rng.randrange(10**6), kinds=kinds)
    insp = inspector_rows(count, seed=rng.randrange(10**6), kinds=kinds)
    changes = [{"active": False}, {"leaves": [["2026-12-05", "2026-12-06"]]},
               {"credential_until": "2026-12-20"}, {"expertise": ["ORGANIC"]}]  # fmt: skip
    for u in rng.sample(insp, k=count // 5):
        u.update(rng.choice(changes))
    teams = {"size": rng.choice([2, 3]), "workload_cap": rng.choice([12, 40, 500]),
             "recuse_same_division": rng.random() < 0.3,
             "recuse_recent_rounds": rng.choice([0, 2]),
             "expertise_required": rng.random() < 0.7}  # fmt: skip
    plan = parse_plan(plan_dict(teams=teams, population={"cert_kinds": list(kinds)}))
    ents = build_enterprise_frame(rows, plan)
    codes = [e.credit_code for e in ents]
    ids = [u["inspector_id"] for u in insp]
    pairs = sorted({(rng.choice(ids), rng.choice(codes)) for _ in range(300)})
    rng.shuffle(pairs)  # a list: a set's order would change with PYTHONHASHSEED
    inputs = DrawInputs(
        round_key="FJ-2026-12-PROP", plan=plan, enterprises=ents,
        inspectors=build_inspector_frame(insp), entropy=[WITNESS],
        conflicts=frozenset(pairs[:150]), recent_pairs=frozenset(pairs[150:]),
        version=version, pseudonym_key=KEY if version >= 2 else b"",
    )  # fmt: skip
    try:
        draw(inputs)
    except InfeasibleDraw:
        return None
    return inputs


def _reference_pick(
    ref: ModuleType,
    pool: tuple[Any, ...],
    now: Any,
    seed: bytes,
    plan: Any,
    ent: dict[str, Any],
    entry: dict[str, Any],
) -> tuple[Any, str]:
    """verify.py's pick for ``entry`` (applied to ``now``), or None and its refusal."""
    insps, conflicts, recent, order, _ = pool
    assert ref.withdrawal_problem(now, entry) is None
    try:
        pick = ref.pick_replacement(seed, plan, ent, insps, conflicts, recent, now, entry, order)
    except ref.NoReplacement as exc:
        return None, str(exc)
    now.apply({**entry, "replacement": pick})
    return pick, ""


@pytest.mark.parametrize("version", [1, 2])
def test_draw_replace_and_verify_py_agree_pick_for_pick(version: int) -> None:
    """Seeded random sequences of withdrawals until nobody is left or 60 are recorded: at
    every step draw.replace and verify.py (on ids as auditors read them, and on the public
    view) make the same pick, or both refuse (version 1 auditors: with the same words)."""
    ref = load_reference()
    rng = random.Random(20261204 + version)
    picks = refusals = rounds = 0
    while rounds < 8:
        inputs = _scenario(rng, version)
        if inputs is None:
            continue
        rounds += 1
        result = draw(inputs)
        seed, facts = bytes.fromhex(result.seed), _facts(inputs, result)
        pools = {aud: _reference_pool(ref, inputs, aud) for aud in ("auditor", "public")}
        codes = sorted(result.teams)
        for _ in range(5):
            replacer = Replacer(inputs, result)
            nows = {aud: ref.TeamsNow({c: [p[4][i] for i in t] for c, t in result.teams.items()},
                                      {p[4][i]: n for i, n in result.workloads.items()})
                    for aud, p in pools.items()}  # fmt: skip
            for _ in range(60):
                code = rng.choice(codes)
                seat = rng.randrange(len(result.teams[code]))
                cause = rng.choice(["conflict", "unavailable", "left", "unavailable"])
                sitting = replacer.member(code, seat)
                try:
                    mine, why = replacer.withdraw(code, seat, cause).replacement, ""
                except NoReplacement as exc:
                    mine, why = None, str(exc)
                for aud, pool in pools.items():
                    names = pool[4]
                    entry = {"n": nows[aud].count + 1, "credit_code": code, "position": seat,
                             "withdrawn": names[sitting], "cause": cause}  # fmt: skip
                    theirs, their_why = _reference_pick(ref, pool, nows[aud], seed, inputs.plan,
                                                        facts[code], entry)  # fmt: skip
                    assert theirs == (mine and names[mine]), (aud, entry, why, their_why)
                    if aud == "auditor" and version == 1:
                        assert their_why == why
                if mine is None:
                    refusals += 1
                    break
                picks += 1
    assert picks > 300 and refusals >= 5, (picks, refusals)
