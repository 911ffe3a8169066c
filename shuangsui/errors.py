"""The exception tree of shuangsui. User errors carry a message a coordinator can act on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    """A file had bad rows; nothing was imported. ``problems`` are the ones named (an import
    names the first :data:`PROBLEMS_NAMED` it finds); ``total`` counts them all."""

    def __init__(self, problems: list[RowProblem], total: int | None = None):
        self.problems = problems
        self.total = len(problems) if total is None else total
        lines = "\n".join(str(p) for p in problems)
        more = self.total - len(problems)
        if more:
            lines += f"\n... and {more:,} more (the first {len(problems):,} found are listed)"
        super().__init__(f"{self.total:,} problem(s); nothing was imported:\n{lines}")


PROBLEMS_NAMED = 1_000


class ProblemLog:
    """The bad rows of an import: the first :data:`PROBLEMS_NAMED` kept to be named, every one
    counted. A file with millions of bad rows (a wrong column, a wrong file) is told so without
    holding millions of records."""

    def __init__(self) -> None:
        self.named: list[RowProblem] = []
        self.count = 0

    def __bool__(self) -> bool:
        return self.count > 0

    def append(self, problem: RowProblem) -> None:
        self.count += 1
        if len(self.named) < PROBLEMS_NAMED:
            self.named.append(problem)

    def extend(self, problems: Iterable[RowProblem]) -> None:
        for problem in problems:
            self.append(problem)

    def forget_since(self, mark: int) -> None:
        """Forget the problems found after the first ``mark`` (a part read again)."""
        del self.named[mark:]
        self.count = mark

    def rejected(self, order: Callable[[RowProblem], Any]) -> ImportRejected:
        return ImportRejected(sorted(self.named, key=order), self.count)


class PlanError(UserError):
    """A draw plan is malformed or contradicts the law or the registry."""


class DrawAlreadyMade(UserError):
    """New entropy offered for a round that is drawn already: refused, recorded, never used."""

    exit_code = 4


class CommitHeld(UserError):
    """A preflight found reasons not to commit (empty population, stale registry, a frame that
    moved too far); the round key is not used. A coordinator may accept them with a reason.
    ``kinds``: each reason's kind (``rounds.holds``: "registry" when an import clears it)."""

    exit_code = 5

    def __init__(self, round_key: str, reasons: list[str], preview: list[str] | None = None,
                 kinds: list[str] | None = None):  # fmt: skip
        self.round_key, self.reasons, self.preview = round_key, reasons, preview or []
        self.kinds = kinds or []
        super().__init__(
            f"round {round_key} not committed (its key stays free): {'; '.join(reasons)}; fix "
            "the registry or the plan, or accept with a reason (--accept 'REASON')"
        )


class InfeasibleDraw(UserError):
    """The rules cannot be met (for example too few eligible inspectors)."""


class DrawNotRecorded(ShuangsuiError):
    """A draw made but not recorded: each attempt to write it collided with other writers (on
    the audit log's head). Nothing of it was kept; the round is still committed, and drawing it
    again (the same entropy: the same draw) records it."""

    exit_code = 6  # the CLI's exit status: nothing is wrong with the request; run it again


class EntropyUnavailable(ShuangsuiError):
    """The public entropy a round needs is not available yet; the round waits."""


class IntegrityError(ShuangsuiError):
    """Recorded data does not verify (hash chain broken, commitment mismatch)."""

    exit_code = 1  # the CLI's exit status: a check failed, as a bundle's verify.py says it
