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


def version_state(
    version: int, team: Collection[str], signoffs: Mapping[str, datetime]
) -> VersionState:
    missing = tuple(sorted(set(team) - set(signoffs)))
    final_at = None
    if team and not missing:
        final_at = max(utc(signoffs[i]) for i in team)
    return VersionState(version, tuple(sorted(signoffs)), missing, final_at)


def latest_final(states: list[VersionState]) -> VersionState | None:
    """The version the public sees: the highest-numbered final version."""
    finals = [s for s in states if s.final]
    return max(finals, key=lambda s: s.version) if finals else None
