"""Verification bundles: the files an outsider needs to re-run a draw with verify.py.

Two audiences (docs/draw-algorithm.md §10, §12; docs/public-record.md says who may see which):

* ``auditor`` — the full bundle: plan.json (canonical plan bytes, sha256 = plan hash),
  frame-enterprises.jsonl, frame-inspectors.jsonl (one canonical JSON object per line, sorted
  by natural key), constraints.json, entropy.json, round.json, selection.json, teams.json
  (canonical JSON + newline), pseudonyms.json (version 2: the round's pseudonym key),
  verify.py (a verbatim copy of draw/verify_bundle.py) and MANIFEST.sha256 (``sha256sum``
  format). It names inspectors, their leave and their declared conflicts: auditors only.
* ``public`` — the same draw with the inspectors under pseudonyms:
  frame-inspectors-public.jsonl and recused-public.json replace the inspector frame and the
  constraints, teams.json names pseudonyms. No inspector id, name, unit, leave date or
  conflict detail is in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .canonical import canonical_json, sha256_hex
from .core import DrawInputs, DrawResult
from .public import public_view

__all__ = [
    "AUDIENCES",
    "BUNDLE_FILES",
    "PUBLIC_BUNDLE_FILES",
    "VERIFY_SCRIPT",
    "bundle_files",
    "write_bundle",
]

VERIFY_SCRIPT = Path(__file__).with_name("verify_bundle.py")
AUDIENCES = ("public", "auditor")
BUNDLE_FILES = (  # an auditor bundle of a version 1 round
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
PUBLIC_BUNDLE_FILES = (
    "plan.json",
    "frame-enterprises.jsonl",
    "frame-inspectors-public.jsonl",
    "recused-public.json",
    "entropy.json",
    "round.json",
    "selection.json",
    "teams.json",
    "verify.py",
)


def bundle_files(audience: str, version: int) -> tuple[str, ...]:
    """The files a bundle holds (besides MANIFEST.sha256), in manifest order."""
    if audience == "public":
        return PUBLIC_BUNDLE_FILES
    return BUNDLE_FILES if version < 2 else (*BUNDLE_FILES, "pseudonyms.json")


def _line(obj: Any) -> bytes:
    return canonical_json(obj) + b"\n"


def _round_doc(
    inputs: DrawInputs, doc: Mapping[str, Any], meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {
        "v": inputs.version,
        "round_key": doc["round_key"],
        "seed": doc["seed"],
        "entropy_digest": sha256_hex(canonical_json([dict(r) for r in inputs.entropy])),
        "commitments": doc["commitments"],
        "strata": doc["strata"],
        "meta": dict(meta or {}),
    }


def bundle_documents(
    inputs: DrawInputs,
    result: DrawResult,
    meta: Mapping[str, Any] | None = None,
    audience: str = "auditor",
) -> dict[str, bytes]:
    """The bundle's files as bytes (without verify.py and the manifest)."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
    doc = result.to_json()
    ents = sorted(inputs.enterprises, key=lambda u: u.credit_code)
    common = {
        "plan.json": canonical_json(dict(inputs.plan)),
        "frame-enterprises.jsonl": b"".join(_line(u.to_json()) for u in ents),
        "entropy.json": _line([dict(r) for r in inputs.entropy]),
        "selection.json": _line({"selected": doc["selected"]}),
    }
    round_doc = _round_doc(inputs, doc, meta)
    if audience == "public":
        return common | _public_documents(inputs, result, round_doc)
    insps = sorted(inputs.inspectors, key=lambda u: u.inspector_id)
    docs = common | {
        "frame-inspectors.jsonl": b"".join(_line(u.to_json()) for u in insps),
        "constraints.json": _line(
            {
                "conflicts": [list(p) for p in sorted(inputs.conflicts)],
                "recent": [list(p) for p in sorted(inputs.recent_pairs)],
            }
        ),
        "teams.json": _line({"teams": doc["teams"], "workloads": doc["workloads"]}),
    }
    if inputs.version >= 2:
        round_doc = {**round_doc, "audience": "auditor"}
        docs["pseudonyms.json"] = _line({"key": inputs.pseudonym_key.hex()})
    docs["round.json"] = _line(round_doc)
    return docs


def _public_documents(
    inputs: DrawInputs, result: DrawResult, round_doc: dict[str, Any]
) -> dict[str, bytes]:
    """Pseudonymous inspectors, recusals and teams (§12); round.json says ``public``."""
    view = public_view(
        version=inputs.version,
        round_key=inputs.round_key,
        plan=inputs.plan,
        inspectors=inputs.inspectors,
        conflicts=inputs.conflicts,
        recent=inputs.recent_pairs,
        key=inputs.pseudonym_key,
    )
    names = view.pseudonyms
    commitments = {
        **round_doc["commitments"],
        "public_inspector_commitment": view.commitment,
        "public_inspector_size": len(view.inspectors),
        "public_recused_commitment": view.recused_commitment,
    }
    teams = {code: [names[i] for i in team] for code, team in result.teams.items()}
    workloads = {names[i]: n for i, n in result.workloads.items()}
    return {
        "frame-inspectors-public.jsonl": b"".join(_line(u.to_json()) for u in view.inspectors),
        "recused-public.json": _line({"recused": [list(p) for p in view.recused]}),
        "round.json": _line({**round_doc, "audience": "public", "commitments": commitments}),
        "teams.json": _line({"teams": teams, "workloads": workloads}),
    }


def write_bundle(
    directory: str | Path,
    inputs: DrawInputs,
    result: DrawResult,
    meta: Mapping[str, Any] | None = None,
    audience: str = "auditor",
    write: Callable[[Path, bytes], object] = Path.write_bytes,
) -> Path:
    """Write the bundle for ``audience`` into ``directory`` (created if needed); its path.

    ``meta``: free, non-recomputed information (bureau, published-at, beacon round named in
    advance ...); JSON values without floats. Anything meant for the public site is written
    with ``audience="public"``; the default, the full bundle, names inspectors.
    ``write(path, data)`` writes each file (the application passes its atomic writer);
    MANIFEST.sha256 is written last.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    docs = {
        **bundle_documents(inputs, result, meta, audience),
        "verify.py": VERIFY_SCRIPT.read_bytes(),
    }
    for name, data in docs.items():
        write(out / name, data)
    lines = [
        f"{hashlib.sha256(docs[name]).hexdigest()}  {name}\n"
        for name in bundle_files(audience, inputs.version)
    ]
    write(out / "MANIFEST.sha256", "".join(lines).encode("utf-8"))
    return out
