"""Committed test vectors of draw version 2 (docs/draw-algorithm.md §12), in tests/vectors/v2/.

Each reuses the inputs of a version 1 vector with ``"version": 2`` and a fixed pseudonym key,
and pins the full result (``expected``) and the public view with its teams
(``expected_public``). Regenerate ONLY for an announced breaking change:
``python -m tests.draw.vectors_v2 --write``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from typing import Any

from draw.core import DrawInputs, draw
from draw.public import public_view

from .vectors import VECTOR_DIR, definitions, inputs_from_json, inputs_to_json

V2_DIR = VECTOR_DIR / "v2"
KEY = hashlib.sha256(b"shuangsui draw v2 test vector pseudonym key").digest()
SOURCES = ("tiny-uniform", "teams")


def v2_inputs_from_json(doc: dict[str, Any]) -> DrawInputs:
    return dataclasses.replace(
        inputs_from_json(doc), version=doc["version"], pseudonym_key=bytes.fromhex(doc["key"])
    )


def public_expected(inputs: DrawInputs, result: dict[str, Any]) -> dict[str, Any]:
    view = public_view(version=inputs.version, round_key=inputs.round_key, plan=inputs.plan,
                       inspectors=inputs.inspectors, conflicts=inputs.conflicts,
                       recent=inputs.recent_pairs, key=inputs.pseudonym_key)  # fmt: skip
    names = view.pseudonyms
    return {
        "inspectors": [u.to_json() for u in view.inspectors],
        "recused": [list(p) for p in view.recused],
        "teams": {c: [names[i] for i in team] for c, team in result["teams"].items()},
        "workloads": {names[i]: n for i, n in result["workloads"].items()},
    }


def build(name: str) -> dict[str, Any]:
    description, v1 = definitions()[name]
    inputs = dataclasses.replace(v1, version=2, pseudonym_key=KEY)
    result = json.loads(json.dumps(draw(inputs).to_json()))
    return {
        "name": f"{name}-v2",
        "description": f"version 2 of '{name}': {description}",
        "inputs": {**inputs_to_json(inputs), "version": 2, "key": KEY.hex()},
        "expected": result,
        "expected_public": public_expected(inputs, result),
    }


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.draw.vectors_v2 --write   (a BREAKING change)")
    V2_DIR.mkdir(exist_ok=True)
    for source in SOURCES:
        doc = build(source)
        text = json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        (V2_DIR / f"{doc['name']}.json").write_text(text, encoding="utf-8")
        print(f"wrote {doc['name']}")
