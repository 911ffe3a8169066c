"""Seed derivation (docs/draw-algorithm.md §5).

seed = SHA-256(canonical JSON of {"v": 1, "round_key", "plan_hash", "frame_commitment",
"inspector_commitment", "constraints_commitment", "entropy": [records in order]}).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .canonical import canonical_json, sha256
from .entropy import check_records

__all__ = ["SEED_VERSION", "derive_seed", "seed_document"]

SEED_VERSION = 1


def seed_document(
    *,
    round_key: str,
    plan_hash: str,
    frame_commitment: str,
    inspector_commitment: str,
    constraints_commitment: str,
    entropy: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "v": SEED_VERSION,
        "round_key": round_key,
        "plan_hash": plan_hash,
        "frame_commitment": frame_commitment,
        "inspector_commitment": inspector_commitment,
        "constraints_commitment": constraints_commitment,
        "entropy": [dict(r) for r in entropy],
    }


def derive_seed(**kwargs: Any) -> bytes:
    """32-byte seed; checks every entropy record first. Keyword arguments of seed_document."""
    check_records(kwargs["entropy"])
    return sha256(canonical_json(seed_document(**kwargs)))
