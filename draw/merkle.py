"""RFC 6962 / RFC 9162 Merkle tree hash, inclusion proofs and their verification.

leaf = SHA-256(0x00 || data); node = SHA-256(0x01 || left || right); the tree over n > 1 leaves
splits at k, the largest power of two strictly less than n; the empty tree hashes to SHA-256("").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "empty_root",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "merkle_root_stream",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_inclusion",
]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    return hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """Root over leaf hashes, bottom-up: equal to the recursive RFC definition. (Each level
    is one comprehension of ``node_hash``, written out: a frame has a node per row.)"""
    sha256 = hashlib.sha256
    level = list(hashes)
    while len(level) > 1:
        pairs = zip(level[0::2], level[1::2], strict=False)  # an odd last node is left over
        nxt = [sha256(b"\x01" + left + right).digest() for left, right in pairs]
        if len(level) % 2:
            nxt.append(level[-1])  # an unpaired right node is promoted unchanged
        level = nxt
    return level[0]


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of the list of leaf data (not leaf hashes)."""
    if not leaves:
        return empty_root()
    sha256 = hashlib.sha256  # leaf_hash, written out: a frame has a leaf per row
    return _root_of_hashes([sha256(b"\x00" + data).digest() for data in leaves])


def merkle_root_stream(leaves: Iterable[bytes]) -> bytes:
    """The same root as :func:`merkle_root`, in one pass over the leaf data without holding it
    (a frame can hold millions of rows): one hash per level of the tree stands at a time. Two
    complete subtrees of the same size side by side are joined at once; what stands at the
    end, sizes decreasing left to right, is joined right to left, as the recursive definition
    splits off the largest power of two first."""
    sha256 = hashlib.sha256
    stack: list[tuple[int, bytes]] = []  # (size, hash) of complete subtrees, left to right
    for data in leaves:
        size, node = 1, sha256(b"\x00" + data).digest()
        while stack and stack[-1][0] == size:
            size, node = size * 2, sha256(b"\x01" + stack.pop()[1] + node).digest()
        stack.append((size, node))
    if not stack:
        return empty_root()
    node = stack.pop()[1]
    while stack:
        node = sha256(b"\x01" + stack.pop()[1] + node).digest()
    return node


def _path(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n <= 1:
        return []
    k = _split(n)
    if index < k:
        return [*_path(index, hashes[:k]), _root_of_hashes(hashes[k:])]
    return [*_path(index - k, hashes[k:]), _root_of_hashes(hashes[:k])]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path (RFC 6962 §2.1.1 PATH) for leaf ``index``, ordered leaf to root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} outside a tree of {len(leaves)}")
    return _path(index, [leaf_hash(d) for d in leaves])


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: recompute the root from a leaf hash and its inclusion proof."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ValueError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof too short")
    return r


def verify_inclusion(
    index: int, size: int, data: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``data`` is leaf ``index`` of the tree of ``size`` leaves with ``root``."""
    try:
        return root_from_inclusion_proof(index, size, leaf_hash(data), proof) == root
    except ValueError:
        return False
