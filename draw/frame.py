"""Sampling frames: typed units, canonical row bytes, commitments and Merkle roots.

Enterprise frame = every enterprise of the plan's population, each with a status:
``random`` (in the sampling base), ``targeted`` (selected for cause, ``note`` = reason) or
``excluded`` (left the base, ``note`` = citation, e.g. the earlier check). Inspector frame =
every inspector of the 执法检查人员名录库 given, eligible or not (eligibility is decided per
enterprise by the team draw, so shortfalls can be explained).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import json
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

import numpy as np

from .canonical import lp, lp_fields
from .errors import FrameError, PlanError
from .merkle import merkle_root, merkle_root_stream

__all__ = [
    "STATUSES",
    "EnterpriseFrame",
    "EnterpriseRow",
    "EnterpriseUnit",
    "FrameBuilder",
    "FrameDigests",
    "InspectorUnit",
    "RowFields",
    "build_enterprise_frame",
    "build_inspector_frame",
    "constraints_commitment",
    "encode_enterprise",
    "encode_enterprises",
    "encode_inspector",
    "frame_commitment",
    "frame_digests",
    "frame_root",
    "jsonl",
    "jsonl_pieces",
    "stratum_of",
    "with_status",
]

STATUSES = ("random", "targeted", "excluded")
_PIECE = 1 << 16  # positions turned into Python ints this many at a time


@dataclass(frozen=True, slots=True)
class EnterpriseUnit:
    credit_code: str
    division_code: str
    risk_class: str
    cert_kinds: tuple[str, ...]  # sorted, in-scope kinds only
    stratum: str
    status: str = "random"
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "credit_code": self.credit_code,
            "division_code": self.division_code,
            "risk_class": self.risk_class,
            "cert_kinds": list(self.cert_kinds),
            "stratum": self.stratum,
            "status": self.status,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> EnterpriseUnit:
        return cls(
            d["credit_code"],
            d["division_code"],
            d["risk_class"],
            tuple(sorted(d["cert_kinds"])),
            d["stratum"],
            d.get("status", "random"),
            d.get("note", ""),
        )


# A unit after its credit code: division_code, risk_class, cert_kinds, stratum, status, note
# (EnterpriseUnit's fields in order). A frame of millions of units has a few hundred of these.
Rest = tuple[str, str, tuple[str, ...], str, str, str]


def rest_of(u: EnterpriseUnit) -> Rest:
    return (u.division_code, u.risk_class, u.cert_kinds, u.stratum, u.status, u.note)


class EnterpriseFrame(Sequence[EnterpriseUnit]):
    """The enterprise units of a frame in credit-code order, held as columns: the credit codes'
    UTF-8 bytes back to back, where each ends, and which of the frame's few distinct rests
    (:data:`Rest`) each unit has. About 30 bytes a unit, where a list of :class:`EnterpriseUnit`
    takes about 170 (a frame can hold ten million units). Made by :class:`FrameBuilder` or
    :meth:`of`; read as a sequence of units (made as they are read), or by column where a
    million units are read: :meth:`codes`, :meth:`code_bytes`, :attr:`rests`,
    :meth:`rest_indices`."""

    __slots__ = ("_data", "_ends", "_rest_at", "rests")

    def __init__(
        self, data: bytes | bytearray, ends: array[int], rest_at: array[int], rests: list[Rest]
    ):
        self._data, self._ends, self._rest_at, self.rests = data, ends, rest_at, rests

    @classmethod
    def of(cls, units: Iterable[EnterpriseUnit], *, where: str = "the frame") -> EnterpriseFrame:
        """``units`` in credit-code order (a frame is returned as it is); a code twice is a
        :class:`FrameError` naming it ("appears twice in ``where``")."""
        if isinstance(units, EnterpriseFrame):
            return units
        builder = FrameBuilder()
        for u in units:
            builder.add(u.credit_code, rest_of(u))
        return builder.frame(where)

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, i: int) -> EnterpriseUnit: ...
    @overload
    def __getitem__(self, i: slice) -> list[EnterpriseUnit]: ...
    def __getitem__(self, i: int | slice) -> EnterpriseUnit | list[EnterpriseUnit]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return EnterpriseUnit(self.code(i), *self.rests[self._rest_at[i]])

    def __iter__(self) -> Iterator[EnterpriseUnit]:
        rests = self.rests
        for code, r in zip(self.codes(), self._rest_at, strict=True):
            yield EnterpriseUnit(code, *rests[r])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EnterpriseFrame):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<EnterpriseFrame of {len(self)} units, {len(self.rests)} distinct rests>"

    def code(self, i: int) -> str:
        if i < 0:
            i += len(self)
        start = self._ends[i - 1] if i else 0
        return self._data[start : self._ends[i]].decode()

    def credit_codes(self, at: np.ndarray | None = None) -> Sequence[str]:
        """The credit codes as a sequence, each decoded when it is read; ``at``: only those of
        the units at these positions, in that order."""
        return _Codes(self, at)

    def code_bytes(self, at: np.ndarray | None = None) -> Iterator[memoryview]:
        """Each unit's credit code as UTF-8 (views into the one buffer: nothing is copied);
        ``at``: only those of the units at these positions, in that order."""
        view = memoryview(self._data)
        if at is None:
            start = 0
            for end in self._ends:
                yield view[start:end]
                start = end
            return
        ends = np.frombuffer(self._ends, dtype=np.uint64)
        for first in range(0, len(at), _PIECE):  # a piece's bounds as ints at a time
            piece = np.asarray(at[first : first + _PIECE], dtype=np.int64)
            starts = np.where(piece > 0, ends[piece - 1], 0)  # (ends[-1] where masked)
            for start, end in zip(starts.tolist(), ends[piece].tolist(), strict=True):
                yield view[start:end]

    def codes(self) -> Iterator[str]:
        data, start = self._data, 0
        for end in self._ends:
            yield data[start:end].decode()
            start = end

    def rest_indices(self) -> array[int]:
        """Per unit, the index of its rest in :attr:`rests`."""
        return self._rest_at

    def rest_counts(self) -> dict[int, int]:
        """How many units have each rest (by index in :attr:`rests`)."""
        at = np.frombuffer(self._rest_at, dtype=np.uint32)
        counts = np.bincount(at, minlength=len(self.rests))
        return {r: int(n) for r, n in enumerate(counts.tolist()) if n}

    def positions(self, status: str) -> np.ndarray:
        """The positions of the units of ``status``, in frame order."""
        wanted = [r for r, rest in enumerate(self.rests) if rest[4] == status]
        return np.flatnonzero(np.isin(np.frombuffer(self._rest_at, dtype=np.uint32), wanted))

    def having(self, status: str) -> EnterpriseFrame:
        """The units of ``status``, as a frame of their own (sharing this one's rests)."""
        at = self.positions(status)
        width = self._width()
        if width:  # credit codes: the columns taken at once
            codes = np.frombuffer(self._data, dtype=f"S{width}")[at]
            ends = np.arange(1, len(at) + 1, dtype=np.uint64) * np.uint64(width)
            rest_at = np.frombuffer(self._rest_at, dtype=np.uint32)[at]
            return EnterpriseFrame(
                bytearray(codes.tobytes()),
                array("Q", ends.tobytes()),
                array("I", rest_at.tobytes()),
                self.rests,
            )
        builder = FrameBuilder()
        for i in at.tolist():
            builder.add(self.code(i), self.rests[self._rest_at[i]])
        return builder.frame()

    def find(self, codes: Sequence[str]) -> list[int]:
        """The position of each of ``codes`` in the frame (-1 where it is not), by binary search
        (all at once when every code has one width, as credit codes do)."""
        width = self._width()
        if width and all(len(c) == width and c.isascii() for c in codes):
            column = np.frombuffer(self._data, dtype=f"S{width}")
            wanted = np.array([c.encode() for c in codes], dtype=f"S{width}")
            at = np.searchsorted(column, wanted)
            hit = (at < len(column)) & (column[np.minimum(at, len(column) - 1)] == wanted)
            return np.where(hit, at, -1).tolist()  # type: ignore[no-any-return]
        found: list[int] = []
        view = self.credit_codes()
        for c in codes:
            i = bisect.bisect_left(view, c)
            found.append(i if i < len(self) and view[i] == c else -1)
        return found

    def _width(self) -> int:
        """The one byte width of every code, if they share one (0 if not, or if a NUL byte
        would make numpy's fixed-width strings compare them differently)."""
        n = len(self._ends)
        if not n or b"\0" in self._data:
            return 0
        width = self._ends[0]
        if width == 0 or self._ends[-1] != width * n:
            return 0
        ends = np.frombuffer(self._ends, dtype=np.uint64)
        return width if bool(np.all(np.diff(ends) == width)) else 0


class _Codes(Sequence[str]):
    """A frame's credit codes as a sequence (decoded as read), or those at some positions."""

    def __init__(self, frame: EnterpriseFrame, at: np.ndarray | None = None):
        self.frame, self.at = frame, at

    def __len__(self) -> int:
        return len(self.frame) if self.at is None else len(self.at)

    def __getitem__(self, i):  # type: ignore[no-untyped-def,override]
        return self.frame.code(i if self.at is None else int(self.at[i]))


class FrameBuilder:
    """Collects (credit code, rest) pairs in any order into an :class:`EnterpriseFrame`. The
    rests are held once each; codes added in increasing order need no sort."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._data = bytearray()
        self._ends = array("Q")
        self._rest_at = array("I")
        self._rests: list[Rest] = []
        self._index: dict[Rest, int] = {}
        self._last: str | None = None
        self._in_order = True

    def add(self, code: str, rest: Rest) -> None:
        r = self._index.get(rest)
        if r is None:
            r = self._index[rest] = len(self._rests)
            self._rests.append(rest)
        if self._in_order:
            if self._last is not None and code <= self._last:
                self._in_order = False
            self._last = code
        self._data += code.encode()
        self._ends.append(len(self._data))
        self._rest_at.append(r)

    def frame(self, where: str = "the frame") -> EnterpriseFrame:
        """The frame, sorted by credit code; a code twice is a FrameError naming it."""
        frame = EnterpriseFrame(self._data, self._ends, self._rest_at, self._rests)
        in_order = self._in_order
        self._start()  # the frame owns the columns now: the next one starts afresh
        return frame if in_order else _sorted(frame, where)


def _sorted(frame: EnterpriseFrame, where: str) -> EnterpriseFrame:
    """``frame``'s units in credit-code order (byte order of UTF-8 is code point order, so
    the bytes sort as the strings do); a code twice is a FrameError."""
    width = frame._width()
    if width:  # credit codes: numpy sorts the fixed-width column
        column = np.frombuffer(frame._data, dtype=f"S{width}")
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        if same.size:
            raise FrameError(f"enterprise {ordered[same[0]].decode()}: appears twice in {where}")
        rest_at = np.frombuffer(frame._rest_at, dtype=np.uint32)[order]
        return EnterpriseFrame(
            ordered.tobytes(), frame._ends, array("I", rest_at.tobytes()), frame.rests
        )
    builder, last = FrameBuilder(), None
    for i in sorted(range(len(frame)), key=frame.code):
        code = frame.code(i)
        if code == last:
            raise FrameError(f"enterprise {code}: appears twice in {where}")
        builder.add(code, frame.rests[frame._rest_at[i]])
        last = code
    return builder.frame(where)


def with_status(units: Sequence[EnterpriseUnit], status: str) -> Iterator[EnterpriseUnit]:
    """The units of ``status`` (of a frame: without making the others)."""
    if isinstance(units, EnterpriseFrame):
        yield from units.having(status)
    else:
        yield from (u for u in units if u.status == status)


@dataclass(frozen=True, slots=True)
class InspectorUnit:
    inspector_id: str
    division_code: str
    expertise: tuple[str, ...]  # sorted cert kinds
    unit: str
    active: bool = True
    credential_from: str = ""  # ISO date, "" = no lower bound
    credential_until: str = ""  # ISO date, "" = no upper bound
    leaves: tuple[tuple[str, str], ...] = ()  # sorted (start, end) ISO dates, inclusive

    def to_json(self) -> dict[str, Any]:
        return {
            "inspector_id": self.inspector_id,
            "division_code": self.division_code,
            "expertise": list(self.expertise),
            "unit": self.unit,
            "active": self.active,
            "credential_from": self.credential_from,
            "credential_until": self.credential_until,
            "leaves": [list(x) for x in self.leaves],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InspectorUnit:
        return cls(
            d["inspector_id"],
            d["division_code"],
            tuple(sorted(d["expertise"])),
            d["unit"],
            bool(d.get("active", True)),
            _iso(d.get("credential_from")),
            _iso(d.get("credential_until")),
            tuple(sorted((_iso(s), _iso(e)) for s, e in d.get("leaves", ()))),
        )


def _iso(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(str(value)).isoformat()


def _tail(u: EnterpriseUnit) -> bytes:
    """A row's bytes after its credit code: the same for every unit of a place and status."""
    return lp_fields(
        [u.division_code, u.risk_class, u.stratum, u.status, u.note, str(len(u.cert_kinds)),
         *u.cert_kinds]
    )  # fmt: skip


def encode_enterprise(u: EnterpriseUnit) -> bytes:
    """Row bytes: lp fields credit_code, division_code, risk_class, stratum, status, note,
    count of cert kinds (decimal), then each cert kind."""
    return lp(u.credit_code) + _tail(u)


def encode_enterprises(units: Iterable[EnterpriseUnit]) -> Iterator[bytes]:
    """``encode_enterprise`` of each unit of a frame, one at a time. Everything after the
    credit code repeats across a frame's units (a few hundred places and statuses): it is
    encoded once each."""
    if isinstance(units, EnterpriseFrame):
        return _encode_frame(units)  # (not handed on a row at a time by a generator here)
    return _encode_units(units)


def _encode_units(units: Iterable[EnterpriseUnit]) -> Iterator[bytes]:
    tails: dict[tuple[Any, ...], bytes] = {}
    for u in units:
        key = (u.division_code, u.risk_class, u.stratum, u.status, u.note, u.cert_kinds)
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = _tail(u)
        code = u.credit_code.encode("utf-8")
        yield len(code).to_bytes(4, "big") + code + tail


def _encode_frame(frame: EnterpriseFrame) -> Iterator[bytes]:
    tails = [_tail(EnterpriseUnit("", *rest)) for rest in frame.rests]
    for code, r in zip(frame.code_bytes(), frame.rest_indices(), strict=True):
        yield len(code).to_bytes(4, "big") + code + tails[r]


_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
LINES_PER_PIECE = 20_000


def jsonl(units: Sequence[EnterpriseUnit] | Sequence[InspectorUnit]) -> bytes:
    """One canonical JSON object per line (``jsonl_pieces`` joined)."""
    return b"".join(jsonl_pieces(units))


def jsonl_pieces(units: Sequence[EnterpriseUnit] | Sequence[InspectorUnit]) -> Iterator[bytes]:
    """The bytes of ``jsonl(units)``, ``LINES_PER_PIECE`` lines at a time. Frame units hold
    only strings, integers, booleans and lists of them (no floats by construction), so plain
    ``json.dumps`` with canonical options gives the canonical bytes without a per-value check."""
    if isinstance(units, EnterpriseFrame):
        width = units._width()
        if width and units._data.isalnum():  # every code ASCII letters and digits, one width
            yield from _plain_frame_pieces(units, width)
            return
        lines: Iterator[str] = _frame_lines(units)
    elif units and all(isinstance(u, EnterpriseUnit) for u in units[:1]):
        lines = _enterprise_lines(units)  # type: ignore[arg-type]
    else:
        lines = (_dumps(u.to_json()) + "\n" for u in units)
    while piece := "".join(itertools.islice(lines, LINES_PER_PIECE)):
        yield piece.encode()


def _enterprise_lines(units: Sequence[EnterpriseUnit]) -> Iterator[str]:
    """The same lines as ``_dumps(u.to_json())`` per unit (a test holds them equal), faster for
    a million rows: the keys sort as cert_kinds, credit_code, then the rest, and everything but
    the credit code repeats across rows, so the text around it is memoised per distinct rest
    (``rounds.artifacts.enterprise_units`` reads them back the same way)."""
    around: dict[Rest, tuple[str, str]] = {}
    for u in units:
        rest = rest_of(u)
        text = around.get(rest)
        if text is None:
            text = around[rest] = _around(rest)
        yield text[0] + _code_json(u.credit_code) + text[1]


def _frame_lines(frame: EnterpriseFrame) -> Iterator[str]:
    """``_enterprise_lines`` of a frame: the text around a code is made once per rest."""
    around = [_around(rest) for rest in frame.rests]
    for code, r in zip(frame.codes(), frame.rest_indices(), strict=True):
        before, after = around[r]
        yield before + _code_json(code) + after


def _plain_frame_pieces(frame: EnterpriseFrame, width: int) -> Iterator[bytes]:
    """``jsonl_pieces`` of a frame whose codes are all ASCII letters and digits of one
    ``width`` (the registry's 18-character codes). JSON writes such a code as it is between
    quotes, so each line is the bytes before the code (its opening quote included), the code,
    then the bytes after: a piece is joined from the frame's columns by ``map`` and ``zip``,
    with no Python statement per line (the same bytes, in about two thirds of the time of
    :func:`_frame_lines`: docs/benchmarks.md, "Thirteenth round" under The draw)."""
    around = [_around(rest) for rest in frame.rests]
    before = [f'{head}"'.encode() for head, _ in around]
    after = [f'"{tail}'.encode() for _, tail in around]
    codes = np.frombuffer(frame._data, dtype=f"S{width}")
    rest_at = frame.rest_indices()
    for first in range(0, len(frame), LINES_PER_PIECE):
        rests = rest_at[first : first + LINES_PER_PIECE]
        lines = zip(
            map(before.__getitem__, rests),
            codes[first : first + LINES_PER_PIECE].tolist(),
            map(after.__getitem__, rests),
            strict=True,
        )
        yield b"".join(itertools.chain.from_iterable(lines))


def _around(rest: Rest) -> tuple[str, str]:
    """A unit's JSON line before and after its credit code's value."""
    division, risk, kinds, stratum, status, note = rest
    return (
        f'{{"cert_kinds":{_dumps(list(kinds))},"credit_code":',
        f',"division_code":{_dumps(division)},"note":{_dumps(note)},'
        f'"risk_class":{_dumps(risk)},"status":{_dumps(status)},'
        f'"stratum":{_dumps(stratum)}}}\n',
    )


def _code_json(code: str) -> str:
    return f'"{code}"' if code.isascii() and code.isalnum() else _dumps(code)


def encode_inspector(u: InspectorUnit) -> bytes:
    """Row bytes: lp fields inspector_id, division_code, unit, active ("1"/"0"),
    credential_from, credential_until, count + expertise items, count + leaves ("start/end")."""
    return lp_fields(
        [u.inspector_id, u.division_code, u.unit, "1" if u.active else "0",
         u.credential_from, u.credential_until, str(len(u.expertise)), *u.expertise,
         str(len(u.leaves)), *(f"{s}/{e}" for s, e in u.leaves)]
    )  # fmt: skip


def frame_commitment(rows: Sequence[bytes]) -> str:
    """SHA-256 (hex) over the sorted rows, each as 4-byte big-endian length || row bytes."""
    h = hashlib.sha256()
    for row in rows:
        h.update(len(row).to_bytes(4, "big"))
        h.update(row)
    return h.hexdigest()


def frame_root(rows: Sequence[bytes]) -> str:
    """RFC 6962 Merkle root (hex) with one leaf per row, in frame order."""
    return merkle_root(rows).hex()


class FrameDigests(NamedTuple):
    commitment: str  # frame_commitment of the rows
    root: str  # frame_root of the rows
    size: int


def frame_digests(rows: Iterable[bytes]) -> FrameDigests:
    """``frame_commitment``, ``frame_root`` and the count of ``rows`` in one pass, without
    holding the rows: a frame's memory is its units, never its bytes as well."""
    h, size = hashlib.sha256(), 0

    def counted() -> Iterator[bytes]:
        nonlocal size
        for row in rows:
            h.update(len(row).to_bytes(4, "big"))
            h.update(row)
            size += 1
            yield row

    root = merkle_root_stream(counted())
    return FrameDigests(h.hexdigest(), root.hex(), size)


def constraints_commitment(
    conflicts: Iterable[tuple[str, str]], recent: Iterable[tuple[str, str]]
) -> str:
    """SHA-256 of lp-encoded sorted (inspector_id, credit_code) pairs: conflicts, then recent."""
    h = hashlib.sha256()
    for name, pairs in (("conflicts", conflicts), ("recent", recent)):
        items = sorted(set(pairs))
        h.update(lp_fields([name, str(len(items))]))
        for a, b in items:
            h.update(lp_fields([a, b]))
    return h.hexdigest()


def stratum_of(plan: Mapping[str, Any], division_code: str, risk_class: str) -> str:
    """Stratum label: parts in order division (prefecture: first 4 digits + '00'), risk_class,
    joined by '/'; '*' when the plan does not stratify."""
    parts = []
    for key in plan["strata"]["by"]:
        parts.append(division_code[:4] + "00" if key == "division" else risk_class)
    return "/".join(parts) or "*"


def _placed(division: str, risk: Any, pop: Mapping[str, Any]) -> bool:
    """The population rules that depend on the division and risk class only."""
    if not any(division.startswith(p) for p in pop["divisions"]):
        return False
    return not (pop["directed"] and pop["risk_classes"] and risk not in pop["risk_classes"])


class EnterpriseRow(NamedTuple):
    """One enterprise of the registry as a frame is built from it (:meth:`of` takes the same
    as a mapping). ``rounds.frames`` reads its fields as a plain tuple in this order
    (:data:`RowFields`): a frame has a row per enterprise, and a named tuple costs about
    0.4 us more a row to make than a plain one (0.06 s of CPU at 200,000 enterprises)."""

    credit_code: str
    division_code: str
    risk_class: str
    industry: str | None
    abnormal_listed: bool
    serious_violation: bool
    certs: tuple[tuple[str, str], ...]  # (kind, status) of each of its certificates

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> EnterpriseRow:
        """From a mapping with the same keys; ``certs`` as [{kind, status}], status defaulting
        to valid; industry and the two lists optional."""
        return cls(
            row["credit_code"],
            row["division_code"],
            row["risk_class"],
            row.get("industry"),
            bool(row.get("abnormal_listed")),
            bool(row.get("serious_violation")),
            tuple((c["kind"], c.get("status", "valid")) for c in row.get("certs", ())),
        )


# The fields of an :class:`EnterpriseRow` as a plain tuple, in its order.
RowFields = tuple[str, str, str, str | None, bool, bool, tuple[tuple[str, str], ...]]


def build_enterprise_frame(
    rows: Iterable[RowFields | Mapping[str, Any]],
    plan: Mapping[str, Any],
    exclusions: Mapping[str, str] | None = None,
    causes: Mapping[str, str] | None = None,
) -> EnterpriseFrame:
    """Population filter, stratum assignment, targeted and excluded status; sorted by code.

    ``rows``: :class:`EnterpriseRow` tuples (or their fields as plain tuples, in order), or
    mappings with the same keys. ``exclusions``: credit_code -> citation of the check that
    removes it from the base (targeted wins over excluded). ``causes``: credit_code ->
    reasons for cause found by the DB layer (accepted leads, a minimum frequency due),
    appended after the plan's own reasons; a code outside the population is ignored (§3.1).
    """
    exclusions = exclusions or {}
    causes = {} if causes is None else causes  # (it may be filled as the rows pass)
    pop, targeted = plan["population"], plan["targeted"]
    listed = {t["credit_code"]: t["reason"] for t in targeted["list"]}
    rates = plan["strata"]["rates"]
    kinds_ok, statuses_ok = frozenset(pop["cert_kinds"]), frozenset(pop["cert_statuses"])
    by_industry = pop["directed"] and pop["industries"]
    with_abnormal = targeted["include_abnormal_listed"]
    with_serious = targeted["include_serious_violation"]
    # a million rows share a few hundred (division, risk class) pairs and a few combinations
    # of certificates: decide those once; the units of a place share its one division, class
    # and stratum strings, and the units of a combination one tuple of kinds
    placed: dict[tuple[str, str], bool] = {}
    strata: dict[tuple[str, str], tuple[str, str, str]] = {}  # -> (division, class, stratum)
    kinds_of: dict[tuple[tuple[str, str], ...], tuple[str, ...]] = {}
    out = FrameBuilder()
    seen_listed: set[str] = set()
    for row in rows:
        if not isinstance(row, tuple):
            row = EnterpriseRow.of(row)
        code, division, risk, industry, abnormal, serious, certs = row
        if not isinstance(code, str) or not code or code.strip() != code:
            raise FrameError(f"enterprise row: bad credit_code {code!r}")
        kinds = kinds_of.get(certs)
        if kinds is None:
            kinds = kinds_of[certs] = tuple(
                sorted({k for k, status in certs if k in kinds_ok and status in statuses_ok})
            )
        if not kinds:
            continue
        place = (str(division), risk)
        if place not in placed:
            placed[place] = _placed(place[0], risk, pop)
        if not placed[place] or (by_industry and industry not in pop["industries"]):
            continue
        if place not in strata:
            if not isinstance(risk, str) or not risk or "/" in risk:
                raise FrameError(f"enterprise {code}: bad risk_class {risk!r}")
            if risk not in rates and "*" not in rates:
                raise PlanError(
                    f"strata.rates: no rate for risk class {risk!r} (enterprise {code})"
                )
            strata[place] = (*place, stratum_of(plan, *place))
        division, risk, stratum = strata[place]
        is_abnormal, is_serious = with_abnormal and abnormal, with_serious and serious
        if code in listed or is_abnormal or is_serious or code in causes:
            note = _reasons(code, listed, is_abnormal, is_serious, causes)
            out.add(code, (division, risk, kinds, stratum, "targeted", note))
            if code in listed:
                seen_listed.add(code)
        elif code in exclusions:
            out.add(code, (division, risk, kinds, stratum, "excluded", exclusions[code]))
        else:
            out.add(code, (division, risk, kinds, stratum, "random", ""))
    missing = sorted(set(listed) - seen_listed)
    if missing:
        raise PlanError(f"targeted.list: {missing[0]} is not in the plan's population")
    return out.frame("the rows")


def _reasons(
    code: str,
    listed: Mapping[str, str],
    abnormal: bool,
    serious: bool,
    causes: Mapping[str, str],
) -> str:
    """A targeted unit's note: its reasons for cause in the order of §3.1, joined by '；'
    (``abnormal``, ``serious``: listed there and the plan targets that list)."""
    reasons = [listed[code]] if code in listed else []
    if abnormal:
        reasons.append("列入经营异常名录")
    if serious:
        reasons.append("列入严重违法失信名单")
    if code in causes:
        reasons.append(causes[code])
    return "；".join(reasons)


def build_inspector_frame(rows: Iterable[Mapping[str, Any]]) -> list[InspectorUnit]:
    """Normalise inspector rows (see InspectorUnit) and sort them by inspector_id."""
    out: dict[str, InspectorUnit] = {}
    for row in rows:
        unit = InspectorUnit.from_json(row)
        if not re.fullmatch(r"[0-9]{6}", unit.division_code):
            raise FrameError(f"inspector {unit.inspector_id}: division_code must be 6 digits")
        if unit.inspector_id in out:
            raise FrameError(f"inspector {unit.inspector_id}: appears twice in the rows")
        out[unit.inspector_id] = unit
    return [out[i] for i in sorted(out)]
