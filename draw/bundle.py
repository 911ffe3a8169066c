"""Verification bundles: the files an outsider needs to re-run a draw with verify.py.

Layout (docs/draw-algorithm.md §10): plan.json (canonical plan bytes, sha256 = plan hash),
frame-enterprises.jsonl, frame-inspectors.jsonl (one canonical JSON object per line, sorted by
natural key), constraints.json, entropy.json, round.json, selection.json, teams.json (canonical
JSON + newline), verify.py (a verbatim copy of draw/verify_bundle.py) and MANIFEST.sha256
(``sha256sum`` format).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .canonical import canonical_json, sha256_hex
from .core import DrawInputs, DrawResult

__all__ = ["BUNDLE_FILES", "VERIFY_SCRIPT", "write_bundle"]

VERIFY_SCRIPT = Path(__file__).with_name("verify_bundle.py")
BUNDLE_FILES = (
    "plan.json",
    "frame-enterprises.jsonl",
    "frame-inspectors.jsonl",
    "constraints.json",
    "entropy.json",
    "round.json",
    "selection.json",
    "teams.json",
    "verify.py",
)


def _line(obj: Any) -> bytes:
    return canonical_json(obj) + b"\n"


def bundle_documents(
    inputs: DrawInputs, result: DrawResult, meta: Mapping[str, Any] | None = None
) -> dict[str, bytes]:
    """The bundle's files as bytes (without verify.py and the manifest)."""
    doc = result.to_json()
    ents = sorted(inputs.enterprises, key=lambda u: u.credit_code)
    insps = sorted(inputs.inspectors, key=lambda u: u.inspector_id)
    return {
        "plan.json": canonical_json(dict(inputs.plan)),
        "frame-enterprises.jsonl": b"".join(_line(u.to_json()) for u in ents),
        "frame-inspectors.jsonl": b"".join(_line(u.to_json()) for u in insps),
        "constraints.json": _line(
            {
                "conflicts": [list(p) for p in sorted(inputs.conflicts)],
                "recent": [list(p) for p in sorted(inputs.recent_pairs)],
            }
        ),
        "entropy.json": _line([dict(r) for r in inputs.entropy]),
        "round.json": _line(
            {
                "v": 1,
                "round_key": doc["round_key"],
                "seed": doc["seed"],
                "entropy_digest": sha256_hex(canonical_json([dict(r) for r in inputs.entropy])),
                "commitments": doc["commitments"],
                "strata": doc["strata"],
                "meta": dict(meta or {}),
            }
        ),
        "selection.json": _line({"selected": doc["selected"]}),
        "teams.json": _line({"teams": doc["teams"], "workloads": doc["workloads"]}),
    }


def write_bundle(
    directory: str | Path,
    inputs: DrawInputs,
    result: DrawResult,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write the bundle into ``directory`` (created if needed) and return its path.

    ``meta``: free, non-recomputed information (bureau, published-at, beacon round named in
    advance ...); JSON values without floats.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    docs = bundle_documents(inputs, result, meta)
    for name, data in docs.items():
        (out / name).write_bytes(data)
    shutil.copyfile(VERIFY_SCRIPT, out / "verify.py")
    lines = []
    for name in BUNDLE_FILES:
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        lines.append(f"{digest}  {name}\n")
    (out / "MANIFEST.sha256").write_text("".join(lines), encoding="utf-8")
    return out
