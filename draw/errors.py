"""Errors raised by the draw core. Each message names what to change."""

from __future__ import annotations


class PlanError(ValueError):
    """A plan is invalid; the message starts with the dotted name of the offending field."""


class InfeasibleDraw(ValueError):
    """The constraints cannot be met: names the enterprise, the rule and the shortfall."""


class EntropyUnavailable(RuntimeError):
    """Entropy cannot be obtained yet (a future beacon round, an unreachable server)."""


class EntropyInvalid(ValueError):
    """A recorded entropy record fails its own check (bad beacon signature hash, bad reveal)."""


class FrameError(ValueError):
    """A frame row is malformed or duplicated."""
