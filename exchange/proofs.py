"""Merkle proofs over leaf *hashes*, complementing ``draw.merkle`` (RFC 6962 / RFC 9162).

``draw.merkle`` hashes leaves and verifies inclusion; here: compact ranges (the O(log n)
state a log or a follower keeps to extend a tree and get its root), inclusion proofs
(RFC 6962 §2.1.1 PATH) and consistency proofs (RFC 6962 §2.1.2 PROOF, verified as in
RFC 9162 §2.1.4.2).

A proof is a list of subtree hashes MTH(D[lo:hi]); which ranges [lo, hi) depends only on the
index and sizes (``inclusion_ranges``, ``consistency_ranges``). Every such range is a run of
*aligned perfect subtrees* ``(level, index)`` = leaves [index·2^level, (index+1)·2^level),
largest first (``perfect_parts``), so a log that stores those nodes when they complete
(``frontier_append`` names them) answers any proof from O(log n) stored hashes
(``proof_from_nodes``), as transparency-dev's tiles do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from draw.merkle import empty_root, node_hash, root_from_inclusion_proof

Node = tuple[int, int]  # (level, index): leaves [index << level, (index + 1) << level)
Range = tuple[int, int]  # [lo, hi): the subtree MTH(D[lo:hi]) of RFC 6962

__all__ = [
    "Node",
    "Range",
    "consistency_proof",
    "consistency_ranges",
    "frontier_append",
    "frontier_root",
    "inclusion_proof_from_hashes",
    "inclusion_ranges",
    "nodes_of",
    "perfect_parts",
    "proof_from_nodes",
    "root_from_hashes",
    "verify_consistency",
    "verify_inclusion_hash",
]


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """Extend the compact range of a tree of ``size`` leaves by one leaf hash, in place.

    The compact range is the list of roots of the perfect subtrees that make up the tree,
    left to right (one per set bit of ``size``, largest first). Returns the perfect subtrees
    above the leaves that this leaf completes, ``(level, index, hash)`` with level >= 1: the
    leaf ``size`` closes the subtree ``size >> level`` of each level up to the number of
    trailing one bits of ``size``."""
    h, s, level, done = leaf, size, 0, []
    while s & 1:
        h = node_hash(frontier.pop(), h)
        s >>= 1
        level += 1
        done.append((level, s, h))
    frontier.append(h)
    return done


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


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees of RFC 6962 PATH(index, D[size]), leaf to root."""
    if not 0 <= index < size:
        raise IndexError(f"leaf index {index} outside a tree of {size}")
    path: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo = lo + k
    return path[::-1]


def inclusion_proof_from_hashes(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 PATH(index, D[n]) over leaf hashes, leaf to root."""
    return [root_from_hashes(hashes[lo:hi]) for lo, hi in inclusion_ranges(index, len(hashes))]


def verify_inclusion_hash(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root
    except ValueError:
        return False


def consistency_ranges(m: int, n: int) -> list[Range]:
    """The subtrees of RFC 6962 PROOF(m, D[n]) (§2.1.2 SUBPROOF), in proof order."""
    if not 0 <= m <= n:
        raise ValueError(f"no consistency proof from size {m} to size {n}")
    if m in (0, n):
        return []
    out: list[Range] = []
    lo, hi, complete = 0, n, True
    while True:
        size = hi - lo
        if m == size:
            if not complete:
                out.append((lo, hi))
            break
        k = _split(size)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    return out[::-1]


def consistency_proof(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 PROOF(m, D[n]): the tree of the first ``m`` leaves is a prefix of D[n]."""
    return [root_from_hashes(hashes[lo:hi]) for lo, hi in consistency_ranges(m, len(hashes))]


def perfect_parts(lo: int, hi: int) -> list[Node]:
    """The range [lo, hi) of a proof as aligned perfect subtrees, left to right.

    Each range of ``inclusion_ranges``/``consistency_ranges`` starts at a multiple of the
    largest power of two not above its length (it is a right part of RFC 6962's split), so
    the greedy cut (largest aligned subtree that fits) gives the binary decomposition of
    its length, largest first, at most log2(n) + 1 parts; MTH(D[lo:hi]) is their fold from
    the right, as ``frontier_root``."""
    parts: list[Node] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo:
            level = min(level, (lo & -lo).bit_length() - 1)
        parts.append((level, lo >> level))
        lo += 1 << level
    return parts


def nodes_of(ranges: Iterable[Range]) -> set[Node]:
    """The stored subtrees (level 0 = leaves) a proof of these ranges reads."""
    return {node for lo, hi in ranges for node in perfect_parts(lo, hi)}


def proof_from_nodes(
    ranges: Iterable[Range], nodes: Mapping[Node, bytes] | Callable[[Node], bytes]
) -> list[bytes]:
    """The proof's hashes, each range's MTH from its perfect subtrees ``nodes``."""
    get = nodes if callable(nodes) else nodes.__getitem__
    return [frontier_root([get(p) for p in perfect_parts(lo, hi)]) for lo, hi in ranges]


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
