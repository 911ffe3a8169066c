"""Seed derivation (docs/draw-algorithm.md §5).

seed = SHA-256(canonical JSON of {"v": 1, "round_key", "plan_hash", "frame_commitment",
"inspector_commitment", "constraints_commitment", "entropy": [records in order]}).

Version 2 (§12) adds "public_inspector_commitment" and "public_recused_commitment" (the
pseudonymous inspector frame and recusals) and has "v": 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .canonical import canonical_json, sha256
from .entropy import check_records

__all__ = ["CURRENT_VERSION", "SEED_VERSION", "VERSIONS", "derive_seed", "seed_document"]

SEED_VERSION = 1  # the version of rounds that do not say otherwise
VERSIONS = (1, 2)
CURRENT_VERSION = 2  # new rounds


def seed_document(
    *,
    round_key: str,
    plan_hash: str,
    frame_commitment: str,
    inspector_commitment: str,
    constraints_commitment: str,
    entropy: Sequence[dict[str, Any]],
    version: int = SEED_VERSION,
    public_inspector_commitment: str = "",
    public_recused_commitment: str = "",
) -> dict[str, Any]:
    if version not in VERSIONS:
        raise ValueError(f"unknown draw version {version!r} (known: {VERSIONS})")
    doc = {
        "v": version,
        "round_key": round_key,
        "plan_hash": plan_hash,
        "frame_commitment": frame_commitment,
        "inspector_commitment": inspector_commitment,
        "constraints_commitment": constraints_commitment,
        "entropy": [dict(r) for r in entropy],
    }
    if version >= 2:
        doc["public_inspector_commitment"] = public_inspector_commitment
        doc["public_recused_commitment"] = public_recused_commitment
    return doc


def derive_seed(**kwargs: Any) -> bytes:
    """32-byte seed; checks every entropy record first. Keyword arguments of seed_document."""
    check_records(kwargs["entropy"])
    return sha256(canonical_json(seed_document(**kwargs)))
