"""Committed test vectors of replacements after the draw (docs/draw-algorithm.md §14), in
tests/vectors/replacements/.

Each names the draw vector whose inputs it builds on (``source``; version 2 with the key of
tests/draw/vectors_v2.py), the withdrawals in the order recorded (enterprise, seat, the member
sitting there, cause) and what §14 gives: each replacement, or the refusal of the last, and the
teams and workloads as they then stand. Regenerate ONLY for an announced breaking change:
``python -m tests.draw.vectors_replace --write``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from draw.core import DrawInputs, draw
from draw.replace import NoReplacement

from .replacing import Replacer, names_of
from .vectors import VECTOR_DIR, inputs_from_json
from .vectors_v2 import KEY

REPLACE_DIR = VECTOR_DIR / "replacements"
Step = tuple[str, int, str]  # credit_code, position, cause

# large-2000: a lead withdrawn for a conflict (workload 5 -> 4, alone at the lowest level) is
# picked at once for another team; the member that leaves it as unavailable is then alone at
# the lowest level and still kept off the next pick, which replaces the first seat again (with
# cause left); the unavailable member leaves another team of its own, and a later pick still
# passes it by. teams: §9's rules at work in each pick, then a seat nobody is left to take.
STEPS: dict[str, tuple[str, str, int, list[Step]]] = {
    "large-2000": (
        "every cause, a lead replaced, one seat replaced twice, an unavailable member kept off "
        "later picks", "large-2000", 1,
        [("91350102000010231P", 0, "conflict"), ("91350102000010248E", 1, "unavailable"),
         ("91350102000010231P", 0, "left"), ("91350702000010700W", 0, "unavailable"),
         ("91350102000010842X", 1, "conflict")],
    ),
    "large-2000-v2": (
        "version 2 (levels by pseudonym): the same kinds of withdrawal", "large-2000", 2,
        [("913501020000100395", 0, "conflict"), ("91350102000010157N", 1, "unavailable"),
         ("913501020000100395", 0, "left"), ("913501030000119227", 0, "unavailable"),
         ("91350102000010842X", 1, "conflict")],
    ),
    "teams": (
        "picks under every rule of the teams vector, then no inspector left for a lead",
        "teams", 1,
        [("913502030000100059", 0, "conflict"), ("91350302000010001K", 1, "unavailable"),
         ("913504020000100068", 0, "left"), ("91350102000010011A", 0, "conflict")],
    ),
}  # fmt: skip


def source_inputs(source: str, version: int) -> DrawInputs:
    doc = json.loads((VECTOR_DIR / f"{source}.json").read_text(encoding="utf-8"))
    inputs = inputs_from_json(doc["inputs"])
    if version == 1:
        return inputs
    return dataclasses.replace(inputs, version=2, pseudonym_key=KEY)


def build(name: str) -> dict[str, Any]:
    description, source, version, steps = STEPS[name]
    inputs = source_inputs(source, version)
    result = draw(inputs)
    replacer = Replacer(inputs, result)
    withdrawals, refused = [], None
    for n, (code, position, cause) in enumerate(steps, 1):
        sitting = replacer.member(code, position)
        withdrawals.append({"n": n, "credit_code": code, "position": position,
                            "withdrawn": sitting, "cause": cause})  # fmt: skip
        try:
            replacer.withdraw(code, position, cause)
        except NoReplacement as exc:
            assert n == len(steps), "only the last withdrawal may be refused"
            refused = {"n": n, "message": str(exc)}
    doc: dict[str, Any] = {
        "name": f"{name}-replacements",
        "description": description,
        "source": source,
        "version": version,
        "seed": result.seed,
        "withdrawals": withdrawals,
        "expected": {
            "replacements": [r.to_json() for r in replacer.recorded],
            "refused": refused,
            "teams": replacer.teams(),
            "workloads": replacer.workloads(),
        },
    }
    if version >= 2:
        names = names_of(inputs)
        doc["key"] = KEY.hex()
        doc["expected_public"] = [
            {**r.to_json(), "withdrawn": names[r.withdrawal.withdrawn],
             "replacement": names[r.replacement]}
            for r in replacer.recorded
        ]  # fmt: skip
    return doc


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.draw.vectors_replace --write   (a BREAKING change)")
    REPLACE_DIR.mkdir(exist_ok=True)
    for vector in STEPS:
        text = json.dumps(build(vector), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        (REPLACE_DIR / f"{vector}.json").write_text(text, encoding="utf-8")
        print(f"wrote {vector}")
