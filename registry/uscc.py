"""统一社会信用代码 (GB 32100-2015): validation with an audited whitelist, and construction.

The check character is computed by python-stdnum (``stdnum.cn.uscc``). A few real codes fail
the check; they are accepted only when listed in ``registry/data/uscc_whitelist.csv``
(``credit_code,reason,added_on,approved_by``), each with a reason.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import mul
from pathlib import Path

import numpy as np
from stdnum.cn import uscc as _uscc

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WHITELIST_CSV = Path(__file__).parent / "data" / "uscc_whitelist.csv"

# Province-level prefixes of GB/T 2260 (plus 10 for registrations at national level).
PROVINCE_PREFIXES = frozenset(
    "10 11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82".split()
)


@dataclass(frozen=True)
class WhitelistEntry:
    credit_code: str
    reason: str
    added_on: str
    approved_by: str


def load_whitelist(path: Path = WHITELIST_CSV) -> dict[str, WhitelistEntry]:
    """The audited whitelist. Every entry needs 18 characters and a non-empty reason."""
    entries: dict[str, WhitelistEntry] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            code = (row.get("credit_code") or "").strip().upper()
            reason = (row.get("reason") or "").strip()
            if len(code) != 18 or not reason:
                raise ValueError(
                    f"{path}:{n}: a whitelist entry needs an 18-character code and a reason"
                )
            entries[code] = WhitelistEntry(
                code,
                reason,
                (row.get("added_on") or "").strip(),
                (row.get("approved_by") or "").strip(),
            )
    return entries


# A code as a spreadsheet shows a number of more than 11 digits (Excel's General format) and saves
# it in a CSV: 9.13506E+17 for 913506044777707740. The digits past the sixth are gone.
SPREADSHEET_NUMBER = re.compile(r"[0-9](\.[0-9]+)?E\+?[0-9]+")


@cache
def whitelist() -> dict[str, WhitelistEntry]:
    """The shipped whitelist (:func:`load_whitelist`), read once a process."""
    return load_whitelist()


_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_ALLOWED = frozenset(ALPHABET)
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    """The 18th character for the first 17 (the same sum as ``stdnum.cn.uscc``, which the
    tests cross-check; inlined because the importer calls it a million times)."""
    total = sum(map(mul, map(_VALUE.__getitem__, first17), _WEIGHTS))
    return ALPHABET[-total % 31]


def is_valid_stdnum(code: str) -> bool:
    """python-stdnum's verdict on ``code`` (format and check character)."""
    return _uscc.is_valid(code)


# The full-width forms (U+FF01-U+FF5E: ９, Ａ) and the ideographic space a Chinese input method
# types in its full-width mode (全角): a code typed so looks right and is no code at all.
FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")


def full_width(text: str) -> str:
    """The full-width characters of ``text``, each once, in the order they come, a space
    between (the ideographic space, which shows as nothing, as U+3000); empty if none."""
    seen = dict.fromkeys(FULL_WIDTH.findall(text))
    return " ".join("U+3000" if c == "\u3000" else c for c in seen)


def problem(code: str, whitelist: dict[str, WhitelistEntry] | None = None) -> str | None:
    """Why ``code`` is not an acceptable credit code, or None if it is.

    ``code`` must already be stripped and upper-cased.
    """
    if whitelist and code in whitelist:
        return None
    if SPREADSHEET_NUMBER.fullmatch(code):  # said as what it is, not as 11 characters
        return (
            f"{code} is the code as a spreadsheet shows a long number, and its last digits are "
            "lost: set the column's format to text and type the codes again"
        )
    if wide := full_width(code):
        half = unicodedata.normalize("NFKC", code).replace(" ", "")
        return (
            f"written in full-width characters ({wide}), as a Chinese input method types them "
            f"in full-width mode (全角): type the code again in half-width characters ({half})"
        )
    if len(code) == 15 and code.isdigit():
        return (
            "must be 18 characters, got 15: this looks like an old 工商注册号 (registration "
            "number); write the enterprise's 18-character 统一社会信用代码"
        )
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    bad = "" if _ALLOWED.issuperset(code) else sorted({c for c in code if c not in ALPHABET})
    if bad:
        return f"characters not allowed in a credit code: {''.join(bad)}"
    if not code[2:8].isdigit():
        return "characters 3-8 must be a 6-digit division code"
    if code[2:4] not in PROVINCE_PREFIXES:
        return f"characters 3-8 ({code[2:8]}) are not a GB/T 2260 division code"
    expected = check_character(code[:17])
    if code[17] != expected:
        return (
            f"wrong check character {code[17]!r} (expected {expected!r}); "
            "if this real code is correct, add it to the audited whitelist with a reason"
        )
    return None


_INDEX = np.full(256, len(ALPHABET), dtype=np.int64)  # byte -> its place in ALPHABET, or 31
_INDEX[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(len(ALPHABET))
_PROVINCE = np.zeros(100, dtype=bool)  # the two digits of a province prefix -> known
_PROVINCE[[int(p) for p in PROVINCE_PREFIXES]] = True


def acceptable(codes: Sequence[str]) -> np.ndarray:
    """For each of ``codes``, True when :func:`problem` would find nothing wrong with it as it
    stands, found a column at a time: 18 characters of the alphabet, characters 3-8 digits
    under a province prefix, the right check character. False says only that :func:`problem`
    must look at the code (it may be wrong, or lower case, or spaced, or on the whitelist)."""
    fine = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes)) == 18
    eighteen = codes if fine.all() else [c for c, f in zip(codes, fine, strict=True) if f]
    if not eighteen:
        return fine
    text = "".join(eighteen).encode("ascii", errors="replace")  # one byte a character
    v = _INDEX[np.frombuffer(text, dtype=np.uint8).reshape(-1, 18)]
    checked = (-(v[:, :17] @ np.array(_WEIGHTS))) % 31 == v[:, 17]
    digits = (v[:, 2:8] < 10).all(axis=1)
    fine[fine] = (
        (v < len(ALPHABET)).all(axis=1)
        & digits
        & _PROVINCE[np.where(digits, v[:, 2] * 10 + v[:, 3], 0)]
        & checked
    )
    return fine


def organisation_code(body8: str) -> str:
    """A GB 11714 organisation code: 8 body characters plus its check character."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(ALPHABET.index(c) * w for c, w in zip(body8, weights, strict=True))
    c9 = 11 - total % 11
    return body8 + ("X" if c9 == 10 else "0" if c9 == 11 else str(c9))


def make(prefix: str, division: str, org_body8: str) -> str:
    """A credit code ``prefix`` (2) + ``division`` (6) + organisation code (9) + check."""
    first17 = prefix + division + organisation_code(org_body8)
    return first17 + check_character(first17)
