"""RFC 6962 Merkle tree against transparency-dev/merkle testonly/constants.go and by hand."""

import hashlib

import pytest

from draw.merkle import (
    inclusion_proof,
    leaf_hash,
    merkle_root,
    merkle_root_stream,
    node_hash,
    root_from_inclusion_proof,
    verify_inclusion,
)

from .vectors import load_reference

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
          "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEVEL0 = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
          "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
          "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
          "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
          "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
          "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
          "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
          "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"]  # fmt: skip
LEVEL1 = ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"]  # fmt: skip
LEVEL2 = ["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]  # fmt: skip


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written independently of draw.merkle."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


@pytest.mark.parametrize("size", range(9))
def test_roots_match_transparency_dev_constants(size: int) -> None:
    assert merkle_root(LEAVES[:size]).hex() == ROOTS[size]


def test_small_roots_by_hand() -> None:
    h = hashlib.sha256
    l0, l1, l2 = (h(b"\x00" + x).digest() for x in LEAVES[:3])
    assert merkle_root([]).hex() == h(b"").hexdigest()  # n = 0: SHA-256 of the empty string
    assert merkle_root(LEAVES[:1]) == l0  # n = 1: the leaf hash itself
    assert merkle_root(LEAVES[:2]) == h(b"\x01" + l0 + l1).digest()  # n = 2
    n01 = h(b"\x01" + l0 + l1).digest()
    assert merkle_root(LEAVES[:3]) == h(b"\x01" + n01 + l2).digest()  # n = 3: split at 2
    assert [merkle_root(LEAVES[:n]).hex() for n in range(4)] == ROOTS[:4]


@pytest.mark.parametrize("size", [5, 6, 7, 9, 15, 16, 17, 31, 33, 64, 100])
def test_root_matches_naive_recursion(size: int) -> None:
    leaves = [f"row-{i}".encode() for i in range(size)]
    assert merkle_root(leaves) == naive_root(leaves)


def test_one_pass_root_is_the_whole_list_root() -> None:
    """The streaming root (a frame's, held one hash per level) equals the RFC root at every
    size, across the powers of two where the stack of complete subtrees changes shape."""
    for size in (*range(0, 70), 127, 128, 129, 1000):
        leaves = [f"row-{i}".encode() for i in range(size)]
        assert merkle_root_stream(iter(leaves)) == merkle_root(leaves)
    assert [merkle_root_stream(LEAVES[:n]).hex() for n in range(9)] == ROOTS


def test_frame_digests_in_one_pass_equal_the_list_ones() -> None:
    from draw.frame import frame_commitment, frame_digests, frame_root

    for size in (0, 1, 2, 3, 64, 65):
        rows = [f"row-{i}".encode() * (i % 4) for i in range(size)]
        assert frame_digests(iter(rows)) == (frame_commitment(rows), frame_root(rows), size)


def test_reference_verifier_roots_agree() -> None:
    ref = load_reference()
    for size in range(0, 70):
        leaves = [bytes([i]) * i for i in range(size)]
        assert ref.merkle_root(leaves) == ref.merkle_root_iter(leaves) == merkle_root(leaves)
        assert ref.merkle_root_stream(iter(leaves)) == merkle_root(leaves)  # one pass, any size
    assert [ref.merkle_root_stream(LEAVES[:n]).hex() for n in range(9)] == ROOTS


def test_reference_frame_digests_are_the_whole_list_ones() -> None:
    """The verifier's one-pass size, commitment and root of a frame equal those of its rows."""
    ref = load_reference()
    for size in (0, 1, 2, 3, 13, 64, 65):
        units = [
            {"credit_code": f"9135{i:014d}", "division_code": "350102", "risk_class": "AB"[i % 2],
             "stratum": "350102-A", "status": "random", "note": "", "cert_kinds": ["ccc"] * (i % 3)}
            for i in range(size)
        ]  # fmt: skip
        rows = [ref.enterprise_row(u) for u in units]
        assert ref.frame_digests(iter(units)) == (
            size,
            ref.commitment(rows),
            merkle_root(rows).hex(),
        )


def test_inclusion_proofs_known_paths() -> None:
    hx = [bytes.fromhex(x) for x in LEVEL0]
    assert inclusion_proof(0, LEAVES) == [hx[1], bytes.fromhex(LEVEL1[1]), bytes.fromhex(LEVEL2[1])]
    assert inclusion_proof(5, LEAVES) == [hx[4], bytes.fromhex(LEVEL1[3]), bytes.fromhex(LEVEL2[0])]
    assert inclusion_proof(0, LEAVES[:1]) == []
    # tree of 3: leaf 2's path is the hash of the left subtree of two
    assert inclusion_proof(2, LEAVES[:3]) == [bytes.fromhex(LEVEL1[0])]


def test_every_inclusion_proof_verifies_and_tampering_fails() -> None:
    for size in range(1, 34):
        leaves = [f"leaf {i}".encode() for i in range(size)]
        root = merkle_root(leaves)
        for index in range(size):
            proof = inclusion_proof(index, leaves)
            assert verify_inclusion(index, size, leaves[index], proof, root)
            assert not verify_inclusion(index, size, b"other", proof, root)
            if proof:
                assert not verify_inclusion(index, size, leaves[index], proof[:-1], root)
                assert not verify_inclusion(index, size, leaves[index], [*proof, root], root)
                bad = [node_hash(proof[0], proof[0]), *proof[1:]]
                assert not verify_inclusion(index, size, leaves[index], bad, root)
            if size > 1:
                other = (index + 1) % size
                assert not verify_inclusion(other, size, leaves[index], proof, root)


def test_proof_bounds() -> None:
    with pytest.raises(IndexError):
        inclusion_proof(3, LEAVES[:3])
    with pytest.raises(ValueError):
        root_from_inclusion_proof(3, 3, leaf_hash(b""), [])
    assert not verify_inclusion(0, 0, b"", [], merkle_root([]))
