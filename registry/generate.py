"""Synthetic registry files that import cleanly: same seed, byte-identical files.

Only ``random.Random(seed)`` is used (never the global RNG), every choice is made from a tuple in
a fixed order, and dates are relative to a fixed ``as_of`` day, so the output depends on the
arguments alone. Rows are written as they are made (streaming), so a million enterprises need
little memory. Certificate bodies' codes and CCC product-category codes are illustrative.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from registry import names, uscc
from registry.divisions import DivisionTable, divisions, is_county, prefecture_of
from registry.schema import KINDS, cells_of
from shuangsui import spreadsheet

AS_OF = date(2026, 1, 1)
OTHER_PROVINCES = ("31", "32", "33", "34", "36")

CHECK_ITEMS: tuple[dict[str, Any], ...] = (
    {
        "code": "RZ-01",
        "name": "强制性产品认证获证产品一致性检查",
        "category": "key",
        "legal_basis": "《中华人民共和国认证认可条例》；《强制性产品认证管理规定》",
        "cert_kinds": ["ccc"],
    },
    {
        "code": "RZ-02",
        "name": "强制性产品认证标志使用情况检查",
        "category": "general",
        "legal_basis": "《强制性产品认证管理规定》；《强制性产品认证标志管理办法》",
        "cert_kinds": ["ccc"],
    },
    {
        "code": "RZ-03",
        "name": "有机产品认证检查",
        "category": "general",
        "legal_basis": "《中华人民共和国认证认可条例》；《有机产品认证管理办法》",
        "cert_kinds": ["organic"],
    },
    {
        "code": "RZ-04",
        "name": "管理体系认证有效性检查",
        "category": "general",
        "legal_basis": "《中华人民共和国认证认可条例》；《认证机构管理办法》",
        "cert_kinds": ["management_system"],
    },
    {
        "code": "RZ-05",
        "name": "自愿性认证证书和认证标志使用检查",
        "category": "general",
        "legal_basis": "《中华人民共和国认证认可条例》；《认证证书和认证标志管理办法》",
        "cert_kinds": ["management_system", "organic", "voluntary_other"],
    },
)
CCC_CATEGORIES = ("0101", "0201", "0307", "0702", "0801", "0902", "1101", "1608", "1813", "2201")
ORGANIC_BODIES = (("OFDC", "001"), ("COFCC", "002"), ("CQC", "022"), ("CHC", "1043"))
MS_BODIES = ("CQC", "CQM", "SGS")


@dataclass
class _Weighted:
    items: Sequence[Any]
    cumulative: list[float]

    @classmethod
    def of(cls, pairs: Sequence[tuple[Any, float]]) -> _Weighted:
        return cls([p[0] for p in pairs], list(itertools.accumulate(p[1] for p in pairs)))

    def pick(self, rng: random.Random) -> Any:
        x = rng.random() * self.cumulative[-1]
        return self.items[bisect.bisect_right(self.cumulative, x)]


RISK = _Weighted.of([("A", 50), ("B", 35), ("C", 12), ("D", 3)])
STATUS = _Weighted.of([("active", 97), ("deregistered", 2), ("revoked", 1)])
PREFIX = _Weighted.of([("91", 88), ("92", 8), ("93", 4)])
CERT_KIND = _Weighted.of(
    [("ccc", 40), ("management_system", 35), ("organic", 10), ("voluntary_other", 15)]
)
CERT_STATUS = _Weighted.of([("valid", 90), ("suspended", 6), ("withdrawn", 4)])
CERT_COUNT = _Weighted.of([(1, 60), (2, 28), (3, 12)])
PREFECTURE_WEIGHT = {"3501": 22, "3502": 16, "3505": 22, "3506": 10, "3503": 7}


def _division_pickers(table: DivisionTable) -> tuple[_Weighted, _Weighted]:
    codes = table.codes_in_force(AS_OF)
    fujian = [(c, PREFECTURE_WEIGHT.get(c[:4], 5)) for c in codes if c[:2] == "35" and is_county(c)]
    others = [
        (c, 1.0)
        for c in codes
        if c[:2] in OTHER_PROVINCES and not c.endswith("0000") and c != "310100"
    ]
    return _Weighted.of(fujian), _Weighted.of(others)


def _pick(rng: random.Random, items: Sequence[Any]) -> Any:
    """One of ``items``: like ``rng.choice`` but one C call to ``random()``."""
    return items[int(rng.random() * len(items))]


class _Generator:
    def __init__(self, seed: int, table: DivisionTable):
        self.rng = random.Random(seed)
        self.table = table
        self.fujian, self.others = _division_pickers(table)
        self.serials: dict[tuple[str, ...], int] = {}
        self.org_offset = self.rng.randrange(10**8)
        self.places: dict[str, tuple[str, str]] = {}

    def _serial(self, *key: str) -> int:
        self.serials[key] = self.serials.get(key, 0) + 1
        return self.serials[key]

    def _place(self, code: str) -> tuple[str, str]:
        """The place-name prefix of names, and of addresses (with the province), cached."""
        if code not in self.places:
            pref = prefecture_of(code)
            pref_name = self.table.name(pref, AS_OF) if pref != "310100" else "上海市"
            place = pref_name + (self.table.name(code, AS_OF) if is_county(code) else "")
            province = self.table.name(code[:2] + "0000", AS_OF)
            self.places[code] = (place, (province if province != "上海市" else "") + place)
        return self.places[code]

    def enterprise(self, index: int) -> dict[str, Any]:
        rng = self.rng
        division = (self.fujian if rng.random() < 0.85 else self.others).pick(rng)
        prefix = PREFIX.pick(rng)
        body = f"{(index * 7_919_003 + self.org_offset) % 10**8:08d}"
        place, address = self._place(division)
        word, industry, ccc_scope = _pick(rng, names.BUSINESSES)
        if prefix == "92":
            name = f"{place}{_pick(rng, names.SURNAMES)}记{_pick(rng, names.SHOP_GOODS)}店"
        elif prefix == "93":
            name = f"{place}{_pick(rng, names.TRADE_NAMES)}{_pick(rng, names.COOP_GOODS)}专业合作社"
        else:
            name = f"{place}{_pick(rng, names.TRADE_NAMES)}{word}{_pick(rng, names.ORG_FORMS)}"
        address += f"{_pick(rng, names.ROADS)}{int(rng.random() * 399) + 1}号"
        return {
            "credit_code": uscc.make(prefix, division, body),
            "name": name,
            "division_code": division,
            "address": address,
            "industry": industry,
            "risk_class": RISK.pick(rng),
            "abnormal_listed": "true" if rng.random() < 0.02 else "false",
            "serious_violation": "true" if rng.random() < 0.005 else "false",
            "status": STATUS.pick(rng),
            "_scope": ccc_scope or "",
        }

    def certificate(self, credit_code: str, ccc_scope: str) -> dict[str, Any]:
        rng = self.rng
        kind = (
            CERT_KIND.pick(rng)
            if ccc_scope
            else _pick(rng, ("management_system", "organic", "voluntary_other"))
        )
        years = 1 if kind == "organic" else 3 if kind == "management_system" else 5
        issued = AS_OF - timedelta(days=int(rng.random() * (365 * years + 120)))
        expires = (
            issued.replace(year=issued.year + years) - timedelta(days=1)
            if not (issued.month == 2 and issued.day == 29)
            else date(issued.year + years, 2, 28)
        )
        yy = f"{issued.year % 100:02d}"
        if kind == "ccc":
            body, scope = "CQC", ccc_scope
            number = f"{issued.year}01{_pick(rng, CCC_CATEGORIES)}"
            serial = self._serial("ccc", str(issued.year))
            if serial > 999_999:
                raise ValueError(
                    f"more than 999,999 CCC certificates issued in {issued.year}: the"
                    " 16-digit number has a 6-digit serial; generate fewer enterprises"
                )
            number += f"{serial:06d}"
        elif kind == "organic":
            body, cb = _pick(rng, ORGANIC_BODIES)
            # Five serial digits per body and year; past 99,999 the number repeats with
            # the "-n" suffix the format allows, so small registries keep their numbers.
            suffix, serial = divmod(self._serial("op", cb, yy) - 1, 99_999)
            number = f"{cb}OP{yy}{serial + 1:05d}" + (f"-{suffix}" if suffix else "")
            scope = f"有机产品（{_pick(rng, names.ORGANIC_SCOPES)}）"
        elif kind == "management_system":
            body = _pick(rng, MS_BODIES)
            letter, scope = _pick(rng, names.MS_STANDARDS)
            serial = self._serial("ms", body, yy)
            number = {
                "CQC": f"00{yy}{letter}{serial:05d}R0M",
                "CQM": f"{yy}{serial:06d}{letter}",
                "SGS": f"CN{yy}/{serial:05d}",
            }[body]
        else:
            body, scope = "CQC", _pick(rng, names.VOLUNTARY_SCOPES)
            number = f"CQC{yy}{self._serial('vol', yy):09d}"
        return {
            "body": body,
            "number": number,
            "credit_code": credit_code,
            "kind": kind,
            "scope": scope,
            "status": CERT_STATUS.pick(rng),
            "issued_on": issued.isoformat(),
            "expires_on": expires.isoformat(),
        }

    def inspector(self, index: int) -> dict[str, Any]:
        rng = self.rng
        division = self.fujian.pick(rng)
        pref = prefecture_of(division)
        start = AS_OF - timedelta(days=rng.randrange(1, 5 * 365))
        leave: list[list[str]] = []
        for _ in range(rng.choice((0, 0, 0, 0, 1, 1, 2))):
            first = AS_OF + timedelta(days=rng.randrange(0, 540))
            leave.append(
                [first.isoformat(), (first + timedelta(days=rng.randrange(14))).isoformat()]
            )
        kinds = ("ccc", "management_system", "organic", "voluntary_other")
        return {
            "inspector_id": f"FJ{index + 1:05d}",
            "name": rng.choice(names.SURNAMES)
            + "".join(rng.choices(names.GIVEN, k=rng.choice((1, 2)))),
            "unit": f"{self.table.name(pref, AS_OF)}{names.UNITS}",
            "division_code": pref,
            "credential_no": f"{pref[:4]}{index + 1:07d}",
            "credential_valid_from": start.isoformat(),
            "credential_valid_until": start.replace(year=start.year + 6).isoformat()
            if not (start.month == 2 and start.day == 29)
            else f"{start.year + 6}-02-28",
            "expertise": sorted(rng.sample(kinds, rng.choice((1, 1, 2, 3)))),
            "leave": sorted(leave),
            "email": f"fj{index + 1:05d}@example.org",
            "webhook_url": "",
            "webhook_kind": "generic",
            "language": "zh",
            "status": "active" if rng.random() < 0.95 else "inactive",
        }


def _writer(path: Path, kind: str) -> tuple[Any, Any]:
    fh = path.open("w", encoding="utf-8-sig", newline="")
    writer = spreadsheet.csv_writer(fh)
    writer.writerow(KINDS[kind].fields)
    return fh, writer


def generate(*, enterprises: int, inspectors: int, seed: int, out: Path) -> dict[str, int]:
    """Write the five registry files into ``out``; returns the row count of each."""
    out.mkdir(parents=True, exist_ok=True)
    gen = _Generator(seed, divisions())
    counts = dict.fromkeys(
        ("enterprises", "certificates", "inspectors", "conflicts", "check-items"), 0
    )
    n_conflicts = min(enterprises, max(inspectors // 5, 1 if inspectors else 0))
    conflict_rows = sorted(gen.rng.sample(range(enterprises), n_conflicts))
    conflict_codes: list[str] = []
    ent_fh, ent_w = _writer(out / "enterprises.csv", "enterprises")
    cert_fh, cert_w = _writer(out / "certificates.csv", "certificates")
    ent_fields, cert_fields = KINDS["enterprises"].fields, KINDS["certificates"].fields
    with ent_fh, cert_fh:
        pick = iter(conflict_rows)
        next_conflict = next(pick, -1)
        for i in range(enterprises):
            row = gen.enterprise(i)
            ent_w.writerow([row[f] for f in ent_fields])
            if i == next_conflict:
                conflict_codes.append(row["credit_code"])
                next_conflict = next(pick, -1)
            for _ in range(CERT_COUNT.pick(gen.rng)):
                cert = gen.certificate(row["credit_code"], row["_scope"])
                cert_w.writerow([cert[f] for f in cert_fields])
                counts["certificates"] += 1
        counts["enterprises"] = enterprises
    fh, w = _writer(out / "inspectors.csv", "inspectors")
    with fh:
        for i in range(inspectors):
            w.writerow(cells_of(KINDS["inspectors"], gen.inspector(i)))
    counts["inspectors"] = inspectors
    fh, w = _writer(out / "conflicts.csv", "conflicts")
    with fh:
        for code in conflict_codes:
            row = {
                "inspector_id": f"FJ{gen.rng.randrange(inspectors) + 1:05d}",
                "credit_code": code,
                "reason": gen.rng.choice(names.CONFLICT_REASONS),
                "declared_on": (AS_OF - timedelta(days=gen.rng.randrange(700))).isoformat(),
            }
            w.writerow(cells_of(KINDS["conflicts"], row))
    counts["conflicts"] = len(conflict_codes)
    fh, w = _writer(out / "check-items.csv", "check-items")
    with fh:
        for item in CHECK_ITEMS:
            w.writerow(cells_of(KINDS["check-items"], item))
    counts["check-items"] = len(CHECK_ITEMS)
    return counts
