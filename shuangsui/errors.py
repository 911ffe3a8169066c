"""The exception tree of shuangsui. User errors carry a message a coordinator can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ShuangsuiError(Exception):
    """Base of every error shuangsui raises on purpose."""


class UserError(ShuangsuiError):
    """Bad input or an impossible request: the message says what to change."""

    exit_code = 2  # the CLI's exit status for this kind of error


class NotFound(UserError):
    pass


class Conflict(UserError):
    """Another writer changed the record first. ``details`` name what is there now (for the
    API, members of the 409 problem document), so the caller can read it and decide again."""

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class RowProblem:
    """One bad field of one row of an input file: rendered as ``FILE:ROW: field: reason``."""

    file: str
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}: {self.field}: {self.reason}"


class ImportRejected(UserError):
    """A file had bad rows; nothing was imported."""

    def __init__(self, problems: list[RowProblem]):
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"{len(problems)} problem(s); nothing was imported:\n{lines}")


class PlanError(UserError):
    """A draw plan is malformed or contradicts the law or the registry."""


class DrawAlreadyMade(UserError):
    """New entropy offered for a round that is drawn already: refused, recorded, never used."""

    exit_code = 4


class CommitHeld(UserError):
    """A preflight found reasons not to commit (empty population, stale registry, a frame that
    moved too far); the round key is not used. A coordinator may accept them with a reason."""

    exit_code = 5

    def __init__(self, round_key: str, reasons: list[str], preview: list[str] | None = None):
        self.round_key, self.reasons, self.preview = round_key, reasons, preview or []
        super().__init__(
            f"round {round_key} not committed (its key stays free): {'; '.join(reasons)}; fix "
            "the registry or the plan, or accept with a reason (--accept 'REASON')"
        )


class InfeasibleDraw(UserError):
    """The rules cannot be met (for example too few eligible inspectors)."""


class EntropyUnavailable(ShuangsuiError):
    """The public entropy a round needs is not available yet; the round waits."""


class IntegrityError(ShuangsuiError):
    """Recorded data does not verify (hash chain broken, commitment mismatch)."""
