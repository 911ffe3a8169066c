"""Ticket-based selection (docs/draw-algorithm.md §6-§8).

ticket(id) = SHA-256(seed || lp(id)), read as a 256-bit big-endian integer H. Within each
stratum the k smallest tickets win (ties, never seen in practice, by id). numpy only sorts
exact integer columns; it never draws random numbers, so results do not depend on its version.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from .canonical import lp
from .plan import rate_fraction

__all__ = [
    "order_by_prefix",
    "order_uniform",
    "code_ticket_table",
    "order_weighted",
    "ticket_table",
    "stratum_quota",
    "stratum_rate",
    "ticket",
    "tickets",
    "trim_to_cap",
]


def ticket(seed: bytes, unit_id: str) -> bytes:
    return hashlib.sha256(seed + lp(unit_id)).digest()


def ticket_table(seed: bytes, ids: Sequence[str]) -> bytearray:
    """All tickets concatenated (32 bytes each, in ``ids`` order)."""
    return code_ticket_table(seed, (unit_id.encode("utf-8") for unit_id in ids))


def code_ticket_table(
    seed: bytes, codes: Iterable[bytes | memoryview], width: int = 32
) -> bytearray:
    """``ticket_table`` of ids given as their UTF-8 bytes. The hash state after ``seed ||
    length`` is computed once per length (credit codes have one) and copied for each id.
    ``width``: keep only each ticket's first ``width`` bytes (8: the prefix a sort needs)."""
    sha = hashlib.sha256
    after: dict[int, Any] = {}  # byte length -> the state after seed || length
    out = bytearray()  # 32 bytes a ticket, not a bytes object (65) and a list slot (8) as well
    for code in codes:
        state = after.get(len(code))
        if state is None:
            state = after[len(code)] = sha(seed + len(code).to_bytes(4, "big"))
        h = state.copy()
        h.update(code)
        out += h.digest()[:width]  # (the whole digest is not copied)
    return out  # (not copied into bytes: a million tickets are 32 MB)


def tickets(seed: bytes, ids: Sequence[str]) -> list[bytes]:
    """Ticket digests for ``ids``, as a list."""
    table = ticket_table(seed, ids)
    return [bytes(table[i : i + 32]) for i in range(0, len(table), 32)]


def stratum_rate(plan: Mapping[str, Any], stratum: str) -> Fraction:
    """The rate of a stratum: its risk class's rate when strata are by risk class, else '*'."""
    strata = plan["strata"]
    rates = strata["rates"]
    if "risk_class" in strata["by"]:
        risk = stratum.split("/")[-1]
        if risk in rates:
            return rate_fraction(rates[risk])
    return rate_fraction(rates["*"])


def stratum_quota(rate: Fraction, size: int, minimum: int) -> int:
    """k = min(size, max(minimum, ceil(rate * size)))."""
    k = -((-rate.numerator * size) // rate.denominator)
    return min(size, max(minimum, k))


def trim_to_cap(quotas: Mapping[str, int], cap: int | None) -> dict[str, int]:
    """Largest-remainder trimming of stratum quotas to a total cap, integers only.

    If K = sum(k_s) > cap: k'_s = floor(cap * k_s / K); the cap - sum(k'_s) remaining units go
    one each to the strata with the largest remainders (cap * k_s mod K), ties by label.
    """
    total = sum(quotas.values())
    if cap is None or total <= cap:
        return dict(quotas)
    floors = {s: cap * k // total for s, k in quotas.items()}
    left = cap - sum(floors.values())
    by_remainder = sorted(quotas, key=lambda s: (-(cap * quotas[s] % total), s))
    for s in by_remainder[:left]:
        floors[s] += 1
    return floors


def _digest(table: bytes | bytearray, i: int) -> bytes:
    return bytes(table[32 * i : 32 * i + 32])


def _fix_ties(
    order: np.ndarray, key: np.ndarray, digest: Callable[[int], bytes], ids: Sequence[str],
    groups: np.ndarray | None,
) -> np.ndarray:  # fmt: skip
    """Re-sort runs of equal 64-bit prefixes (in one group) by (full digest, id)."""
    sorted_keys = key[order]
    same = sorted_keys[1:] == sorted_keys[:-1]  # same[p]: positions p and p + 1 tie
    del sorted_keys
    if groups is not None:
        sorted_groups = groups[order]
        same &= sorted_groups[1:] == sorted_groups[:-1]
        del sorted_groups
    dup = np.flatnonzero(same)
    if dup.size == 0:
        return order
    order = order.copy()
    starts = sorted({int(p) for p in dup} - {int(p) + 1 for p in dup})
    for start in starts:
        end = start + 1
        while end < len(order) and same[end - 1]:
            end += 1
        run = sorted(order[start:end].tolist(), key=lambda i: (digest(i), ids[i]))
        order[start:end] = run
    return order


def order_uniform(
    table: bytes | bytearray, ids: Sequence[str], groups: np.ndarray | None = None
) -> np.ndarray:
    """Indices in ascending (H, id) order, from a ticket table: numpy argsort on the first 8
    bytes as big-endian uint64; exact ties on those bytes resolved on the full digest, then id.

    ``groups``: an integer per index (a stratum's number); the indices then come group by
    group, in ascending group order, each group in ascending (H, id) order: one sort for
    every stratum, not a sort and a regrouping."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    prefix = np.frombuffer(table, dtype=">u8").reshape(n, 4)[:, 0]
    return order_by_prefix(prefix, lambda i: _digest(table, i), ids, groups)


def order_by_prefix(
    prefix: np.ndarray, digest: Callable[[int], bytes], ids: Sequence[str],
    groups: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """:func:`order_uniform` from each ticket's first 8 bytes as an integer (``prefix``) and
    a way to get a whole ticket (``digest(i)``), asked only where two prefixes tie: a draw
    sorts a million tickets holding 8 bytes of each, not 32."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    key = prefix.astype(np.uint64)  # native order, exact
    if groups is None:
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((key, groups))  # by group, then by prefix (stable)
    return _fix_ties(order, key, digest, ids, groups)


def order_weighted(
    table: bytes | bytearray, ids: Sequence[str], weights: Sequence[int]
) -> list[int]:
    """Sequential Poisson order: i before j iff (2H_i+1)*w_j < (2H_j+1)*w_i (ties by id).

    Implemented with the exact integer key (2H+1) * (L // w), L = lcm of the weights."""
    if any(w < 1 for w in weights):
        raise ValueError("weights must be integers >= 1")
    lcm = math.lcm(*weights) if weights else 1
    keys = [
        (2 * int.from_bytes(_digest(table, i), "big") + 1) * (lcm // w)
        for i, w in enumerate(weights)
    ]
    order = sorted(range(len(ids)), key=keys.__getitem__)
    # equal keys (never seen in practice) are ordered by id
    i = 0
    while i < len(order) - 1:
        j = i + 1
        while j < len(order) and keys[order[j]] == keys[order[i]]:
            j += 1
        if j - i > 1:
            order[i:j] = sorted(order[i:j], key=ids.__getitem__)
        i = j
    return order
