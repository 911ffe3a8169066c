"""The versioned GB/T 2260 division table shipped as data in ``registry/data/divisions.csv``.

Each row is ``code,name,valid_from,valid_to`` (``valid_to`` empty while the code is in force;
a code is in force on ``valid_from <= day < valid_to``). Codes change over time (for example
长乐市 350182 became 长乐区 350112 in 2017), so the table keeps the old codes with an end date.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

DIVISIONS_CSV = Path(__file__).parent / "data" / "divisions.csv"


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    valid_from: date
    valid_to: date | None

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class DivisionTable:
    versions: dict[str, tuple[Division, ...]]

    def is_known(self, code: str) -> bool:
        return code in self.versions

    def in_force(self, code: str, day: date) -> bool:
        return any(d.in_force_on(day) for d in self.versions.get(code, ()))

    def name(self, code: str, day: date | None = None) -> str:
        versions = self.versions.get(code, ())
        for d in reversed(versions):
            if day is None or d.in_force_on(day):
                return d.name
        return versions[-1].name if versions else ""

    def codes_in_force(self, day: date) -> list[str]:
        return sorted(c for c in self.versions if self.in_force(c, day))


def prefecture_of(code: str) -> str:
    """The prefecture-level code a county/district code belongs to (``350102`` -> ``350100``)."""
    return code[:4] + "00"


def province_of(code: str) -> str:
    return code[:2] + "0000"


def is_county(code: str) -> bool:
    return not code.endswith("00")


def is_prefecture(code: str) -> bool:
    return code.endswith("00") and not code.endswith("0000")


def load_divisions(path: Path = DIVISIONS_CSV) -> DivisionTable:
    versions: dict[str, list[Division]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            versions.setdefault(row["code"], []).append(
                Division(
                    code=row["code"],
                    name=row["name"],
                    valid_from=date.fromisoformat(row["valid_from"]),
                    valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
                )
            )
    return DivisionTable(
        {code: tuple(sorted(v, key=lambda d: d.valid_from)) for code, v in versions.items()}
    )


@lru_cache(maxsize=1)
def divisions() -> DivisionTable:
    """The shipped table, loaded once."""
    return load_divisions()
