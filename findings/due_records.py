"""What the deadline list (``findings.overdue``) reads of each result: its team and the date
its check is due, and for each version who signed it when and whether it was published.
Nothing of a version's content (its result, description, certificates, measures) is read.

The public site's loader (``findings.records.load_results``) reads every version whole, its
JSON decoded, and works out every version's state: for a page of ``GET /deadlines`` that
computes 46 rounds, 78 % of the page's time went there. Here a round costs two reads of
tuples (its seats; its versions with their signatures and publications, in one join), and
the rules of ``findings.state`` are applied only where the list needs them: which version is
the latest final one, and when the one waiting to be published became final.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from findings.models import Finding, FindingSignoff, FindingVersion, PublishedResult
from findings.state import final_moment, is_final
from rounds.models import Assignment

_FV = FindingVersion.__table__  # type: ignore[attr-defined]
_F = Finding.__table__  # type: ignore[attr-defined]
_S = FindingSignoff.__table__  # type: ignore[attr-defined]
_P = PublishedResult.__table__  # type: ignore[attr-defined]
_A = Assignment.__table__  # type: ignore[attr-defined]

_SEATS = sa.select(_A.c.round_key, _A.c.credit_code, _A.c.inspector_id, _A.c.due_on)
_VERSIONS = (
    sa.select(
        _F.c.round_key,
        _F.c.credit_code,
        _FV.c.version,
        _S.c.inspector_id,
        # as the driver gives it: the column's own type makes each aware in UTC, which
        # findings.state does for the few signatures the list counts from (a quarter less time)
        sa.type_coerce(_S.c.signed_at, sa.DateTime()),
        _P.c.version_id,  # not NULL: published
    )
    .join(_FV, _FV.c.finding_id == _F.c.id)
    .outerjoin(_S, _S.c.version_id == _FV.c.id)
    .outerjoin(_P, _P.c.version_id == _FV.c.id)
)
_ROUNDS: sa.BindParameter[list[str]] = sa.bindparam("round_keys", expanding=True)
# built once: a page reads one round at a time, a few dozen rounds
_SEATS_OF = _SEATS.where(_A.c.round_key.in_(_ROUNDS))
_VERSIONS_OF = _VERSIONS.where(_F.c.round_key.in_(_ROUNDS))


@dataclass(frozen=True)
class VersionDue:
    version: int
    signed: dict[str, datetime]  # who signed it, when
    published: bool


@dataclass(frozen=True)
class ResultDue:
    round_key: str
    credit_code: str
    team: list[str]
    due_on: date  # the check's: one date for the whole team (``rounds.replacements``)
    versions: list[VersionDue]  # in order of their numbers

    @property
    def public(self) -> VersionDue | None:
        """The latest final version, the one the public site shows (``findings.state``: a
        version is final once its whole team signed it)."""
        return next((v for v in reversed(self.versions) if is_final(self.team, v.signed)), None)

    def final_at(self, version: VersionDue) -> datetime | None:
        """When a final ``version`` became final: its team's last signature."""
        return final_moment(self.team, version.signed)


def load(conn: sa.Connection, round_keys: Sequence[str] | None = None) -> list[ResultDue]:
    """Every assignment's enterprise of the given rounds (all rounds when None), with its
    versions, in (round, enterprise) order."""
    some = {} if round_keys is None else {"round_keys": list(round_keys)}
    seats = _SEATS if round_keys is None else _SEATS_OF
    teams: dict[tuple[str, str], list[str]] = {}
    due: dict[tuple[str, str], date] = {}
    for key, code, inspector, due_on in conn.execute(seats, some).all():
        teams.setdefault((key, code), []).append(inspector)
        due[key, code] = max(due_on, due.get((key, code), due_on))

    # (round, enterprise) -> version number -> (who signed it when, published)
    found: dict[tuple[str, str], dict[int, tuple[dict[str, datetime], bool]]] = {}
    versions = _VERSIONS if round_keys is None else _VERSIONS_OF
    for key, code, number, inspector, signed_at, published in conn.execute(versions, some).all():
        result = found.setdefault((key, code), {})
        signed, _ = result.setdefault(number, ({}, published is not None))
        if inspector is not None:
            signed[inspector] = signed_at

    return [
        ResultDue(
            key[0],
            key[1],
            team,
            due[key],
            [
                VersionDue(number, signed, published)
                for number, (signed, published) in sorted(found.get(key, {}).items())
            ],
        )
        for key, team in sorted(teams.items())
    ]
