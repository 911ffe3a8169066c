"""Sampling frames: typed units, canonical row bytes, commitments and Merkle roots.

Enterprise frame = every enterprise of the plan's population, each with a status:
``random`` (in the sampling base), ``targeted`` (selected for cause, ``note`` = reason) or
``excluded`` (left the base, ``note`` = citation, e.g. the earlier check). Inspector frame =
every inspector of the 执法检查人员名录库 given, eligible or not (eligibility is decided per
enterprise by the team draw, so shortfalls can be explained).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .canonical import lp, lp_fields
from .errors import FrameError, PlanError
from .merkle import merkle_root, merkle_root_stream

__all__ = [
    "STATUSES",
    "EnterpriseRow",
    "EnterpriseUnit",
    "FrameDigests",
    "InspectorUnit",
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
]

STATUSES = ("random", "targeted", "excluded")


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
    tails: dict[tuple[Any, ...], bytes] = {}
    for u in units:
        key = (u.division_code, u.risk_class, u.stratum, u.status, u.note, u.cert_kinds)
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = _tail(u)
        code = u.credit_code.encode("utf-8")
        yield len(code).to_bytes(4, "big") + code + tail


_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
LINES_PER_PIECE = 20_000


def jsonl(units: Sequence[EnterpriseUnit] | Sequence[InspectorUnit]) -> bytes:
    """One canonical JSON object per line (``jsonl_pieces`` joined)."""
    return b"".join(jsonl_pieces(units))


def jsonl_pieces(units: Sequence[EnterpriseUnit] | Sequence[InspectorUnit]) -> Iterator[bytes]:
    """The bytes of ``jsonl(units)``, ``LINES_PER_PIECE`` lines at a time. Frame units hold
    only strings, integers, booleans and lists of them (no floats by construction), so plain
    ``json.dumps`` with canonical options gives the canonical bytes without a per-value check."""
    if units and all(isinstance(u, EnterpriseUnit) for u in units[:1]):
        lines: Iterator[str] = _enterprise_lines(units)  # type: ignore[arg-type]
    else:
        lines = (_dumps(u.to_json()) + "\n" for u in units)
    while piece := "".join(itertools.islice(lines, LINES_PER_PIECE)):
        yield piece.encode()


def _enterprise_lines(units: Sequence[EnterpriseUnit]) -> Iterator[str]:
    """The same lines as ``_dumps(u.to_json())`` per unit (a test holds them equal), faster for
    a million rows: the keys sort as cert_kinds, credit_code, then the rest, and everything but
    the credit code repeats across rows, so the text around it is memoised per distinct rest
    (``rounds.artifacts.enterprise_units`` reads them back the same way)."""
    around: dict[tuple[object, ...], tuple[str, str]] = {}
    for u in units:
        rest = (u.cert_kinds, u.division_code, u.note, u.risk_class, u.status, u.stratum)
        text = around.get(rest)
        if text is None:
            text = around[rest] = (
                f'{{"cert_kinds":{_dumps(list(u.cert_kinds))},"credit_code":',
                f',"division_code":{_dumps(u.division_code)},"note":{_dumps(u.note)},'
                f'"risk_class":{_dumps(u.risk_class)},"status":{_dumps(u.status)},'
                f'"stratum":{_dumps(u.stratum)}}}\n',
            )
        code = u.credit_code
        code_json = f'"{code}"' if code.isascii() and code.isalnum() else _dumps(code)
        yield text[0] + code_json + text[1]


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
    """One enterprise of the registry as a frame is built from it (``rounds.frames`` reads
    these; :meth:`of` takes the same as a mapping)."""

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


def build_enterprise_frame(
    rows: Iterable[EnterpriseRow | Mapping[str, Any]],
    plan: Mapping[str, Any],
    exclusions: Mapping[str, str] | None = None,
    causes: Mapping[str, str] | None = None,
) -> list[EnterpriseUnit]:
    """Population filter, stratum assignment, targeted and excluded status; sorted by code.

    ``rows``: :class:`EnterpriseRow` tuples, or mappings with the same keys. ``exclusions``:
    credit_code -> citation of the check that removes it from the base (targeted wins over
    excluded). ``causes``: credit_code -> reasons for cause found by the DB layer (accepted
    leads, a minimum frequency due), appended after the plan's own reasons; a code outside the
    population is ignored (§3.1).
    """
    exclusions = exclusions or {}
    causes = causes or {}
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
    out: dict[str, EnterpriseUnit] = {}
    for row in rows:
        if not isinstance(row, EnterpriseRow):
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
        if code in out:
            raise FrameError(f"enterprise {code}: appears twice in the rows")
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
            out[code] = EnterpriseUnit(code, division, risk, kinds, stratum, "targeted", note)
        elif code in exclusions:
            out[code] = EnterpriseUnit(
                code, division, risk, kinds, stratum, "excluded", exclusions[code]
            )
        else:
            out[code] = EnterpriseUnit(code, division, risk, kinds, stratum)
    missing = sorted(set(listed) - set(out))
    if missing:
        raise PlanError(f"targeted.list: {missing[0]} is not in the plan's population")
    return [out[c] for c in sorted(out)]


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
        if not re.fullmatch(r"\d{6}", unit.division_code):
            raise FrameError(f"inspector {unit.inspector_id}: division_code must be 6 digits")
        if unit.inspector_id in out:
            raise FrameError(f"inspector {unit.inspector_id}: appears twice in the rows")
        out[unit.inspector_id] = unit
    return [out[i] for i in sorted(out)]
