"""Reading a finding: the assignment's team, every version with its sign-offs, what is final."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from findings.models import Finding, FindingSignoff, FindingVersion
from findings.state import VersionState, latest_final, version_state
from rounds.models import Assignment
from shuangsui.errors import NotFound


def team_of(session: Session, round_key: str, credit_code: str) -> list[str]:
    """The enterprise's team in the round, lead first; NotFound when it was not drawn."""
    rows = session.execute(
        select(col(Assignment.inspector_id))
        .where(col(Assignment.round_key) == round_key, col(Assignment.credit_code) == credit_code)
        .order_by(col(Assignment.position))
    ).scalars()
    team = list(rows)
    if not team:
        raise NotFound(f"round {round_key} has no assignment for enterprise {credit_code}")
    return team


def signoffs(session: Session, version_ids: list[int]) -> dict[int, dict[str, datetime]]:
    out: dict[int, dict[str, datetime]] = {}
    rows = session.execute(
        select(FindingSignoff).where(FindingSignoff.version_id.in_(version_ids))  # type: ignore[attr-defined]
    ).scalars()
    for s in rows:
        out.setdefault(s.version_id, {})[s.inspector_id] = s.signed_at
    return out


@dataclass
class History:
    round_key: str
    credit_code: str
    team: list[str]
    versions: list[FindingVersion]
    states: list[VersionState]

    @property
    def public(self) -> VersionState | None:
        return latest_final(self.states)

    def as_json(self, *, internal: bool) -> dict[str, Any]:
        versions = []
        for v, s in zip(self.versions, self.states, strict=True):
            d = v.model_dump(mode="json", exclude={"id", "finding_id"})
            if not internal:
                d.pop("internal_note", None)
            d.update(
                signed_by=list(s.signed_by),
                missing=list(s.missing),
                final=s.final,
                final_at=s.final_at.isoformat() if s.final_at else None,
            )
            versions.append(d)
        pub = self.public
        return {
            "round_key": self.round_key,
            "credit_code": self.credit_code,
            "team": self.team,
            "final_version": pub.version if pub else None,
            "versions": versions,
        }


def history(engine: Engine, round_key: str, credit_code: str) -> History:
    with Session(engine, expire_on_commit=False) as session:
        team = team_of(session, round_key, credit_code)
        finding = session.execute(
            select(Finding).where(
                col(Finding.round_key) == round_key, col(Finding.credit_code) == credit_code
            )
        ).scalar_one_or_none()
        versions: list[FindingVersion] = []
        if finding is not None:
            versions = list(
                session.execute(
                    select(FindingVersion)
                    .where(col(FindingVersion.finding_id) == finding.id)
                    .order_by(col(FindingVersion.version))
                ).scalars()
            )
        signed = signoffs(session, [v.id for v in versions])  # type: ignore[misc]
    states = [version_state(v.version, team, signed.get(v.id, {})) for v in versions]  # type: ignore[arg-type]
    return History(round_key, credit_code, team, versions, states)


def latest_version_number(engine: Engine, round_key: str, credit_code: str) -> int:
    """The number of the finding's latest version; 0 when it has none."""
    with Session(engine) as session:
        number = session.execute(
            select(func.max(FindingVersion.version))
            .join(Finding, col(Finding.id) == col(FindingVersion.finding_id))
            .where(col(Finding.round_key) == round_key, col(Finding.credit_code) == credit_code)
        ).scalar_one()
    return int(number or 0)


def count_versions(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(FindingVersion)).scalar_one())
