"""Where the published results are, by division: the search page's 地区 choice, and its list
of each district's rounds for a reader without JavaScript (the search box needs it).

Every prefecture and district of the bureau's area (``Site.bureau_code``: a province's, a
prefecture's or a district's) in force on the latest round's draw day (before any round is
drawn, on the last day the table records a change: :func:`table_day`) is listed, those with no
published result said so, so that a citizen who finds their district listed with none knows
no check is published there yet, and one who does not find it knows it is not the bureau's
(``by_prefecture``'s ``bureau_code``). Made from each round's part (``website.parts.RoundPart.
divisions``: division code -> enterprises with a published result), read by no other file:
nothing here reads a result, and no file spanning every round grows by it but the search page.
A division is named by the GB/T 2260 table (``registry.divisions``) as it was on the round's
draw day (the latest round in which it occurs, when it was named otherwise before; a division
with no result, as on the latest draw day), its prefecture likewise; a code that is not six
digits or not in the table is left out of the choice (its results are listed under 地区不详 on
the round page, and found by name or code). A division with results outside the bureau's area,
or retired since, is listed too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from registry.divisions import DivisionTable, divisions, is_county, prefecture_of


@dataclass(frozen=True)
class District:
    code: str
    name: str
    rounds: list[tuple[str, int]] = field(default_factory=list)  # (round key, results there)


@dataclass(frozen=True)
class Prefecture:
    code: str
    name: str
    districts: list[District]

    @property
    def results(self) -> int:
        return sum(n for d in self.districts for _, n in d.rounds)


def _day(drawn_at: str) -> date | None:
    try:
        return date.fromisoformat(drawn_at[:10])
    except ValueError:
        return None


def _area_prefix(bureau_code: str) -> str:
    """The leading digits every division code of the bureau's area shares: ``35`` for a
    province (``350000``), ``3502`` for a prefecture, the whole code for a district."""
    if bureau_code.endswith("0000"):
        return bureau_code[:2]
    return bureau_code[:4] if bureau_code.endswith("00") else bureau_code


def _in_area(table: DivisionTable, bureau_code: str, day: date) -> list[str]:
    """The districts (county-level codes) of the bureau's area in force on ``day``."""
    prefix = _area_prefix(bureau_code)
    return [c for c in table.codes_in_force(day) if c.startswith(prefix) and is_county(c)]


def table_day(table: DivisionTable) -> date:
    """The last day ``table`` records a change on (a code coming into force or retired): the
    divisions in force then are those in force since, as far as the table knows. The day the
    area is listed as of before any round is drawn, so that a new bureau's site lists its
    districts (said to have no result yet) instead of none; a day fixed by the program's own
    table, not the day of the publish, so an unchanged site is published byte for byte."""
    return max(
        day
        for versions in table.versions.values()
        for d in versions
        for day in (d.valid_from, d.valid_to)
        if day
    )


def by_prefecture(
    rounds: Iterable[tuple[str, str, Mapping[str, int]]], *, bureau_code: str = ""
) -> list[Prefecture]:
    """The prefectures and their districts in which ``rounds`` have published results, and,
    given ``bureau_code``, every other district of the bureau's area in force on the latest
    draw day (:func:`table_day` when no round is drawn; with no rounds), both in GB/T 2260
    code order, each district with its rounds in the order given. ``rounds``: (round key,
    draw time as ISO text or "", division code -> results there)."""
    table = divisions()
    names: dict[str, str] = {}
    found: dict[str, District] = {}
    latest: date | None = None

    def name(code: str, day: date | None) -> None:
        names[code] = table.name(code, day)
        top = prefecture_of(code)
        names[top] = table.name(top, day) if table.is_known(top) else top

    for key, drawn_at, counts in rounds:
        day = _day(drawn_at)
        latest = max(latest, day) if latest and day else latest or day
        for code, count in sorted(counts.items()):
            if not (count and len(code) == 6 and code.isdigit() and table.is_known(code)):
                continue
            name(code, day)
            found.setdefault(code, District(code, "")).rounds.append((key, count))
    if bureau_code:
        day = latest or table_day(table)
        for code in _in_area(table, bureau_code, day):
            if code not in found:
                name(code, day)
                found[code] = District(code, "")
    groups: dict[str, list[District]] = {}
    for code in sorted(found):
        groups.setdefault(prefecture_of(code), []).append(
            District(code, names[code], found[code].rounds)
        )
    return [Prefecture(top, names[top], members) for top, members in groups.items()]
