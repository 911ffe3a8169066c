"""Where the published results are, by division: the search page's 地区 choice, and its list
of each district's rounds for a reader without JavaScript (the search box needs it).

Made from each round's part (``website.parts.RoundPart.divisions``: division code ->
enterprises with a published result), read by no other file: nothing here reads a result,
and no file spanning every round grows by it but the search page. A division is named by the
GB/T 2260 table (``registry.divisions``) as it was on the round's draw day (the latest round
in which it occurs, when it was named otherwise before), its prefecture likewise; a code that
is not six digits or not in the table is left out of the choice (its results are listed under
地区不详 on the round page, and found by name or code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from registry.divisions import divisions, prefecture_of


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


def by_prefecture(rounds: Iterable[tuple[str, str, Mapping[str, int]]]) -> list[Prefecture]:
    """The prefectures and their districts in which ``rounds`` have published results, both in
    GB/T 2260 code order, each district with its rounds in the order given. ``rounds``: (round
    key, draw time as ISO text or "", division code -> results there)."""
    table = divisions()
    names: dict[str, str] = {}
    found: dict[str, District] = {}
    for key, drawn_at, counts in rounds:
        day = _day(drawn_at)
        for code, count in sorted(counts.items()):
            if not (count and len(code) == 6 and code.isdigit() and table.is_known(code)):
                continue
            names[code] = table.name(code, day)
            top = prefecture_of(code)
            names[top] = table.name(top, day) if table.is_known(top) else top
            found.setdefault(code, District(code, "")).rounds.append((key, count))
    groups: dict[str, list[District]] = {}
    for code in sorted(found):
        groups.setdefault(prefecture_of(code), []).append(
            District(code, names[code], found[code].rounds)
        )
    return [Prefecture(top, names[top], members) for top, members in groups.items()]
