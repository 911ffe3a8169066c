"""Bulk reads of findings as plain data: each (round, enterprise) with its versions and states.

Used by the public site and the coordinator's round page (the deadline list reads less:
``findings.due_records``); Core selects, no ORM objects, so a hundred thousand results load in
about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from findings.models import Finding, FindingSignoff, FindingVersion, PublishedResult
from findings.state import VersionState, latest_final, utc, version_state
from rounds.models import Assignment

_FV = FindingVersion.__table__  # type: ignore[attr-defined]
_F = Finding.__table__  # type: ignore[attr-defined]
_S = FindingSignoff.__table__  # type: ignore[attr-defined]
_P = PublishedResult.__table__  # type: ignore[attr-defined]
_A = Assignment.__table__  # type: ignore[attr-defined]


@dataclass
class VersionRecord:
    id: int
    version: int
    result: str
    check_date: date
    description: str
    certificates: list[dict[str, Any]]
    measures: list[dict[str, Any]]
    reason: str
    created_at: datetime
    state: VersionState
    published_at: datetime | None = None
    finding_id: int = 0


@dataclass
class ResultRecord:
    round_key: str
    credit_code: str
    team: list[str]
    versions: list[VersionRecord] = field(default_factory=list)

    @property
    def public(self) -> VersionRecord | None:
        """The latest final version: what the public site shows."""
        state = latest_final([v.state for v in self.versions])
        return None if state is None else self.versions[state.version - 1]

    @property
    def final_history(self) -> list[VersionRecord]:
        return [v for v in self.versions if v.state.final]


def load_results(
    conn: sa.Connection, round_keys: Sequence[str] | None = None
) -> list[ResultRecord]:
    """Every assignment's enterprise of the given rounds (all rounds when None), with findings."""
    where_a = [] if round_keys is None else [_A.c.round_key.in_(list(round_keys))]
    teams: dict[tuple[str, str], list[str]] = {}
    q = sa.select(_A.c.round_key, _A.c.credit_code, _A.c.inspector_id).where(*where_a)
    for rk, code, ins in conn.execute(q.order_by(_A.c.round_key, _A.c.credit_code, _A.c.position)):
        teams.setdefault((rk, code), []).append(ins)
    records = {k: ResultRecord(k[0], k[1], t) for k, t in teams.items()}
    where_f = [] if round_keys is None else [_F.c.round_key.in_(list(round_keys))]
    signed: dict[int, dict[str, datetime]] = {}
    sq = (
        sa.select(_S.c.version_id, _S.c.inspector_id, _S.c.signed_at)
        .join(_FV, _FV.c.id == _S.c.version_id)
        .join(_F, _F.c.id == _FV.c.finding_id)
        .where(*where_f)
    )
    for vid, ins, at in conn.execute(sq):
        signed.setdefault(vid, {})[ins] = at
    published: dict[int, datetime] = {}
    pq = sa.select(_P.c.version_id, _P.c.published_at).join(_F, _F.c.id == _P.c.finding_id)
    for vid, at in conn.execute(pq.where(*where_f)):
        published[vid] = utc(at)
    vq = (
        sa.select(
            _F.c.round_key,
            _F.c.credit_code,
            _FV.c.id,
            _FV.c.version,
            _FV.c.result,
            _FV.c.check_date,
            _FV.c.description,
            _FV.c.certificates,
            _FV.c.measures,
            _FV.c.reason,
            _FV.c.created_at,
            _FV.c.finding_id,
        )
        .join(_F, _F.c.id == _FV.c.finding_id)
        .where(*where_f)
    )
    for rk, code, vid, ver, result, day, desc, certs, measures, reason, at, fid in conn.execute(
        vq.order_by(_F.c.round_key, _F.c.credit_code, _FV.c.version)
    ):
        rec = records.get((rk, code))
        if rec is None:  # pragma: no cover - a finding always has an assignment
            continue
        state = version_state(ver, rec.team, signed.get(vid, {}))
        rec.versions.append(
            VersionRecord(
                vid,
                ver,
                result,
                day,
                desc,
                certs,
                measures,
                reason,
                utc(at),
                state,
                published.get(vid),
                fid,
            )
        )
    return [records[k] for k in sorted(records)]
