"""Pure rules of finality: a version is final when every team member has signed it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


def utc(at: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@dataclass(frozen=True)
class VersionState:
    version: int
    signed_by: tuple[str, ...]
    missing: tuple[str, ...]
    final_at: datetime | None

    @property
    def final(self) -> bool:
        return not self.missing


def is_final(team: Collection[str], signoffs: Collection[str]) -> bool:
    """Every member of the team has signed (``signoffs``: who signed; the moments, a mapping
    by inspector, will do)."""
    return all(inspector in signoffs for inspector in team)


def final_moment(team: Collection[str], signoffs: Mapping[str, datetime]) -> datetime | None:
    """When a final version became final: its team's last signature (None with no team)."""
    return max(utc(signoffs[i]) for i in team) if team else None


def version_state(
    version: int, team: Collection[str], signoffs: Mapping[str, datetime]
) -> VersionState:
    missing = tuple(sorted(set(team) - set(signoffs)))
    final_at = final_moment(team, signoffs) if is_final(team, signoffs) else None
    return VersionState(version, tuple(sorted(signoffs)), missing, final_at)


def latest_final(states: list[VersionState]) -> VersionState | None:
    """The version the public sees: the highest-numbered final version."""
    finals = [s for s in states if s.final]
    return max(finals, key=lambda s: s.version) if finals else None
