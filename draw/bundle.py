"""Verification bundles: the files an outsider needs to re-run a draw with verify.py.

Layout (docs/draw-algorithm.md §10): plan.json (canonical plan bytes, sha256 = plan hash),
frame-enterprises.jsonl, frame-inspectors.jsonl (one canonical JSON object per line, sorted by
natural key), constraints.json, entropy.json, round.json, selection.json, teams.json (canonical
JSON + newline), verify.py (a verbatim copy of draw/verify_bundle.py) and MANIFEST.sha256
(``sha256sum`` format).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
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
    write: Callable[[Path, bytes], object] = Path.write_bytes,
) -> Path:
    """Write the bundle into ``directory`` (created if needed) and return its path.

    ``meta``: free, non-recomputed information (bureau, published-at, beacon round named in
    advance ...); JSON values without floats. ``write(path, data)`` writes each file (the
    application passes its atomic writer); MANIFEST.sha256 is written last.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    docs = {**bundle_documents(inputs, result, meta), "verify.py": VERIFY_SCRIPT.read_bytes()}
    for name, data in docs.items():
        write(out / name, data)
    lines = [f"{hashlib.sha256(docs[name]).hexdigest()}  {name}\n" for name in BUNDLE_FILES]
    write(out / "MANIFEST.sha256", "".join(lines).encode("utf-8"))
    return out
