import functools
import hashlib
from fractions import Fraction

import numpy as np
import pytest

from draw.select import (
    order_uniform,
    order_weighted,
    stratum_quota,
    ticket,
    ticket_table,
    tickets,
    trim_to_cap,
)

from .vectors import load_reference

SEED = hashlib.sha256(b"test seed").digest()


def test_ticket_is_sha256_of_seed_and_length_prefixed_id() -> None:
    assert ticket(SEED, "91350100") == hashlib.sha256(SEED + b"\x00\x00\x00\x0891350100").digest()
    assert ticket(SEED, "福") == hashlib.sha256(SEED + b"\x00\x00\x00\x03" + "福".encode()).digest()


def test_ticket_table_fast_and_general_paths_agree() -> None:
    same_length = [f"9135{i:06d}" for i in range(50)]
    mixed = [*same_length, "短", "a", "福建省-长的编号"]
    for ids in (same_length, mixed):
        assert tickets(SEED, ids) == [ticket(SEED, i) for i in ids]
    assert ticket_table(SEED, []) == b""


@pytest.mark.parametrize(
    ("rate", "size", "minimum", "k"),
    [
        (Fraction(3, 100), 100, 1, 3),
        (Fraction(3, 100), 101, 1, 4),  # ceil(3.03) = 4
        (Fraction(1, 100), 5, 1, 1),  # ceil(0.05) = 1
        (Fraction(1, 100), 5, 0, 1),
        (Fraction(0), 5, 0, 0),
        (Fraction(0), 5, 2, 2),
        (Fraction(1, 10), 0, 1, 0),  # empty stratum
        (Fraction(1, 10), 3, 5, 3),  # the minimum never exceeds the stratum size
        (Fraction(1), 7, 1, 7),
    ],
)
def test_stratum_quota(rate: Fraction, size: int, minimum: int, k: int) -> None:
    assert stratum_quota(rate, size, minimum) == k


def test_trim_to_cap_largest_remainder() -> None:
    # K = 12 > cap 7: floors 7*k/12 = 1, 2, 2, 0 (sum 5); remainders 2, 11, 4, 7 -> B, D get +1
    assert trim_to_cap({"A": 2, "B": 5, "C": 4, "D": 1}, 7) == {"A": 1, "B": 3, "C": 2, "D": 1}
    assert trim_to_cap({"A": 2, "B": 5}, None) == {"A": 2, "B": 5}
    assert trim_to_cap({"A": 2, "B": 5}, 7) == {"A": 2, "B": 5}
    # equal remainders: label order decides
    assert trim_to_cap({"B": 1, "A": 1}, 1) == {"A": 1, "B": 0}
    assert trim_to_cap({"A": 3, "B": 3}, 0) == {"A": 0, "B": 0}


def test_order_uniform_is_sorted_by_digest_then_id() -> None:
    ids = [f"id-{i}" for i in range(5000)]
    table = ticket_table(SEED, ids)
    digests = tickets(SEED, ids)
    expected = sorted(range(len(ids)), key=lambda i: (digests[i], ids[i]))
    assert order_uniform(table, ids).tolist() == expected


def test_order_uniform_resolves_64_bit_prefix_ties_exactly() -> None:
    prefix = b"\x00" * 8
    digests = [
        prefix + bytes([9]) * 24,
        prefix + bytes([3]) * 24,
        b"\x01" * 32,
        prefix + bytes([3]) * 24,
    ]
    ids = ["d", "c", "a", "b"]
    order = order_uniform(b"".join(digests), ids)
    assert [ids[i] for i in order] == ["b", "c", "d", "a"]  # same digest: by id


def test_order_uniform_by_group_sorts_each_group_by_digest_then_id() -> None:
    """Group by group, each by (digest, id), the 64-bit ties resolved inside a group only: a
    run of one prefix across two groups is not merged."""
    rng = np.random.default_rng(3)
    ids = [f"g-{i:05d}" for i in range(4000)]
    digests = list(tickets(SEED, ids))
    for i in range(0, 400, 4):  # runs of one prefix, some across groups, some whole digests
        digests[i + 1] = digests[i][:8] + digests[i + 1][8:]
        digests[i + 2] = digests[i]
    groups = rng.integers(0, 5, len(ids)).astype(np.int32)
    groups[:400:8] = 4  # some runs' first members in the last group, the rest elsewhere
    order = order_uniform(b"".join(digests), ids, groups)
    expected = sorted(range(len(ids)), key=lambda i: (int(groups[i]), digests[i], ids[i]))
    assert order.tolist() == expected
    assert order_uniform(b"", [], np.zeros(0, dtype=np.int32)).tolist() == []
    # one prefix in both groups: the run ends where the group does
    zero = b"\x00" * 8
    digests = [
        zero + bytes([9]) * 24,
        zero + bytes([3]) * 24,
        zero + b"\x01" * 24,
        zero + b"\x05" * 24,
    ]
    order = order_uniform(b"".join(digests), ["a", "b", "c", "d"], np.array([0, 0, 1, 1]))
    assert order.tolist() == [1, 0, 2, 3]


def _cmp(a: tuple[int, int, str], b: tuple[int, int, str]) -> int:
    left, right = (2 * a[0] + 1) * b[1], (2 * b[0] + 1) * a[1]
    return (left > right) - (left < right) or (a[2] > b[2]) - (a[2] < b[2])


def test_weighted_order_matches_cross_multiplied_comparison() -> None:
    ids = [f"w-{i}" for i in range(3000)]
    weights = [1 + (i * 7) % 5 for i in range(3000)]
    table = ticket_table(SEED, ids)
    h = [int.from_bytes(d, "big") for d in tickets(SEED, ids)]
    triples = sorted(zip(h, weights, ids, strict=True), key=functools.cmp_to_key(_cmp))
    got = order_weighted(table, ids, weights)
    assert [ids[i] for i in got] == [t[2] for t in triples]


def test_weighted_with_equal_weights_is_the_uniform_order() -> None:
    ids = [f"u-{i}" for i in range(500)]
    table = ticket_table(SEED, ids)
    assert order_weighted(table, ids, [4] * 500) == order_uniform(table, ids).tolist()


def test_weighted_ties_by_id_and_bad_weights() -> None:
    d = b"\x05" * 32
    assert order_weighted(d + d, ["b", "a"], [2, 2]) == [1, 0]
    with pytest.raises(ValueError, match=">= 1"):
        order_weighted(d, ["a"], [0])


def test_reference_implementation_agrees_on_primitives() -> None:
    ref = load_reference()
    for rate, size, minimum in [(Fraction(3, 100), 101, 1), (Fraction(1, 3), 10, 0)]:
        assert ref.quota(rate, size, minimum) == stratum_quota(rate, size, minimum)
    quotas = {"A": 2, "B": 5, "C": 4, "D": 1}
    for cap in range(0, 14):
        assert ref.trim(quotas, cap) == trim_to_cap(quotas, cap)
    assert ref.ticket(SEED, "x") == ticket(SEED, "x")


def test_numpy_is_only_used_on_exact_integers() -> None:
    table = ticket_table(SEED, ["a", "b"])
    prefix = np.frombuffer(table, dtype=">u8").reshape(2, 4)[:, 0]
    assert int(prefix[0]) == int.from_bytes(table[:8], "big")
