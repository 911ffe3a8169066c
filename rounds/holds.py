"""Why a round should be held, and how its strata moved: each a small dataclass carrying its
values (``rounds.preflight`` finds them), whose ``str()`` is the English sentence the CLI, the
API and the notifications print; a page in another language says it from the values
(``workspace.adhoc.HELD``). Each reason to hold says its ``kind``: a registry hold (never
imported, stale) is cleared by the next import, so the monthly flow tries the round again; a
plan's (an empty population, a frame that moved) only by the coordinator, so nothing is tried
again for it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias

REGISTRY: Final = "registry"  # a hold a new registry import clears
PLAN: Final = "plan"  # a hold the coordinator clears: the plan fixed, or accepted with a reason


@dataclass(frozen=True)
class StratumAppears:
    """A stratum the last comparable round did not have."""

    stratum: str

    def __str__(self) -> str:
        return f"stratum {self.stratum} appears"


@dataclass(frozen=True)
class StratumVanishes:
    """A stratum of the last comparable round that this frame no longer has."""

    stratum: str

    def __str__(self) -> str:
        return f"stratum {self.stratum} vanishes"


Change: TypeAlias = StratumAppears | StratumVanishes  # how the strata moved since the last round


@dataclass(frozen=True)
class EmptyPopulation:
    """No enterprise of the registry is in the plan's population."""

    kind: ClassVar[str] = PLAN

    plan_id: str

    def __str__(self) -> str:
        return (
            f"the population is empty: no enterprise of the registry matches plan "
            f"{self.plan_id} (is the registry imported? are the divisions and certificate "
            "kinds right?)"
        )


@dataclass(frozen=True)
class NeverImported:
    """The registry has no import at all."""

    kind: ClassVar[str] = REGISTRY

    def __str__(self) -> str:
        return "the registry has never been imported"


@dataclass(frozen=True)
class RegistryStale:
    """The registry's last import is older than the configured age."""

    kind: ClassVar[str] = REGISTRY

    imported_at: dt.datetime
    max_age_days: int

    def __str__(self) -> str:
        return (
            f"the registry was last imported on {self.imported_at:%Y-%m-%d}, more "
            f"than {self.max_age_days} days ago (SHUANGSUI_REGISTRY_MAX_AGE_DAYS)"
        )


@dataclass(frozen=True)
class FrameMoved:
    """The frame's size moved from the last comparable round's by more than the limit
    (``moved`` and ``limit`` are fractions: 0.25 is 25%)."""

    kind: ClassVar[str] = PLAN

    frame_size: int
    moved: float
    last_size: int
    last_round: str | None
    limit: float

    def __str__(self) -> str:
        return (
            f"the frame has {self.frame_size} enterprises, {self.moved:.0%} away from the "
            f"{self.last_size} of round {self.last_round} (more than "
            f"{self.limit:.0%}, SHUANGSUI_FRAME_CHANGE_LIMIT)"
        )


Refusal: TypeAlias = EmptyPopulation | NeverImported | RegistryStale | FrameMoved
