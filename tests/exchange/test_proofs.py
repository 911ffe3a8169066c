"""Compact ranges, inclusion and consistency proofs agree with draw.merkle and RFC 9162."""

from __future__ import annotations

import pytest

from draw import merkle
from exchange import proofs


def _leaves(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 100])
def test_frontier_root_is_the_rfc_root(n: int) -> None:
    leaves = _leaves(n)
    hashes = [merkle.leaf_hash(x) for x in leaves]
    assert proofs.root_from_hashes(hashes) == merkle.merkle_root(leaves)
    for i in range(n):
        assert proofs.inclusion_proof_from_hashes(i, hashes) == merkle.inclusion_proof(i, leaves)
        assert proofs.verify_inclusion_hash(i, n, hashes[i], merkle.inclusion_proof(i, leaves),
                                            merkle.merkle_root(leaves))  # fmt: skip


def test_rfc6962_known_root() -> None:
    # transparency-dev/merkle testonly: the 8 reference leaves of RFC 6962's test suite
    leaves = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
              "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
    root = proofs.root_from_hashes([merkle.leaf_hash(x) for x in leaves])
    assert root.hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_every_consistency_proof_verifies_and_tampering_fails() -> None:
    hashes = [merkle.leaf_hash(x) for x in _leaves(40)]
    for n in range(1, 41):
        second = proofs.root_from_hashes(hashes[:n])
        for m in range(1, n + 1):
            first = proofs.root_from_hashes(hashes[:m])
            proof = proofs.consistency_proof(m, hashes[:n])
            assert proofs.verify_consistency(m, n, first, second, proof), (m, n)
            if m < n:
                bad = b"\x00" * 32
                assert not proofs.verify_consistency(m, n, bad, second, proof)
                assert not proofs.verify_consistency(m, n, first, bad, proof)
                if proof:
                    assert not proofs.verify_consistency(m, n, first, second, proof[:-1])


def test_a_rewritten_leaf_breaks_consistency() -> None:
    hashes = [merkle.leaf_hash(x) for x in _leaves(20)]
    old_root = proofs.root_from_hashes(hashes[:11])
    forged = list(hashes)
    forged[3] = merkle.leaf_hash(b"rewritten")
    proof = proofs.consistency_proof(11, forged)
    assert not proofs.verify_consistency(11, 20, old_root, proofs.root_from_hashes(forged), proof)


def _stored_nodes(hashes: list[bytes]) -> dict[proofs.Node, bytes]:
    """What a log stores as it appends: the leaves and every perfect subtree they complete."""
    nodes: dict[proofs.Node, bytes] = {}
    frontier: list[bytes] = []
    for i, h in enumerate(hashes):
        nodes[(0, i)] = h
        nodes.update(((lv, ix), x) for lv, ix, x in proofs.frontier_append(frontier, i, h))
    return nodes


def test_proofs_from_stored_subtrees_are_the_reference_proofs() -> None:
    hashes = [merkle.leaf_hash(x) for x in _leaves(70)]
    nodes = _stored_nodes(hashes)
    assert len(nodes) == 70 + 70 - bin(70).count("1")  # n leaves, n - popcount(n) inner nodes
    for n in range(1, 71):
        for i in range(n):
            ranges = proofs.inclusion_ranges(i, n)
            assert len(proofs.nodes_of(ranges)) <= 2 * n.bit_length()
            got = proofs.proof_from_nodes(ranges, nodes)
            assert got == proofs.inclusion_proof_from_hashes(i, hashes[:n]), (i, n)
        for m in range(0, n + 1):
            ranges = proofs.consistency_ranges(m, n)
            assert len(proofs.nodes_of(ranges)) <= 2 * n.bit_length()
            got = proofs.proof_from_nodes(ranges, nodes)
            assert got == proofs.consistency_proof(m, hashes[:n]), (m, n)


def test_perfect_parts_are_aligned() -> None:
    assert proofs.perfect_parts(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert proofs.perfect_parts(8, 13) == [(2, 2), (0, 12)]
    assert proofs.perfect_parts(12, 16) == [(2, 3)]
    assert proofs.nodes_of(proofs.inclusion_ranges(5, 8)) == {(0, 4), (1, 3), (2, 0)}
