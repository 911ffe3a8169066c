"""Merkle proofs over leaf *hashes*, complementing ``draw.merkle`` (RFC 6962 / RFC 9162).

``draw.merkle`` hashes leaves and verifies inclusion; here: compact ranges (the O(log n)
state a log or a follower keeps to extend a tree and get its root), inclusion proofs from
stored leaf hashes, and consistency proofs (RFC 6962 §2.1.2 SUBPROOF, verified as in
RFC 9162 §2.1.4.2).
"""

from __future__ import annotations

from collections.abc import Sequence

from draw.merkle import empty_root, node_hash, root_from_inclusion_proof

__all__ = [
    "consistency_proof",
    "frontier_append",
    "frontier_root",
    "inclusion_proof_from_hashes",
    "root_from_hashes",
    "verify_consistency",
    "verify_inclusion_hash",
]


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> None:
    """Extend the compact range of a tree of ``size`` leaves by one leaf hash, in place.

    The compact range is the list of roots of the perfect subtrees that make up the tree,
    left to right (one per set bit of ``size``, largest first)."""
    h, s = leaf, size
    while s & 1:
        h = node_hash(frontier.pop(), h)
        s >>= 1
    frontier.append(h)


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """Root of the tree whose compact range is ``frontier``."""
    if not frontier:
        return empty_root()
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = node_hash(h, r)
    return r


def root_from_hashes(hashes: Sequence[bytes]) -> bytes:
    frontier: list[bytes] = []
    for i, h in enumerate(hashes):
        frontier_append(frontier, i, h)
    return frontier_root(frontier)


def inclusion_proof_from_hashes(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 PATH(index, D[n]) over leaf hashes, leaf to root."""
    n = len(hashes)
    if not 0 <= index < n:
        raise IndexError(f"leaf index {index} outside a tree of {n}")
    path: list[bytes] = []
    lo, hi = 0, n
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(root_from_hashes(hashes[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root_from_hashes(hashes[lo : lo + k]))
            lo = lo + k
    return path[::-1]


def verify_inclusion_hash(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root
    except ValueError:
        return False


def consistency_proof(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 PROOF(m, D[n]): the tree of the first ``m`` leaves is a prefix of D[n]."""
    n = len(hashes)
    if not 0 <= m <= n:
        raise ValueError(f"no consistency proof from size {m} to size {n}")
    if m in (0, n):
        return []
    out: list[bytes] = []
    lo, hi, complete = 0, n, True
    while True:
        size = hi - lo
        if m == size:
            if not complete:
                out.append(root_from_hashes(hashes[lo:hi]))
            break
        k = _split(size)
        if m <= k:
            out.append(root_from_hashes(hashes[lo + k : hi]))
            hi = lo + k
        else:
            out.append(root_from_hashes(hashes[lo : lo + k]))
            lo, m, complete = lo + k, m - k, False
    return out[::-1]


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: True iff the tree (first, first_root) is a prefix of (second, ...)."""
    if first < 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
