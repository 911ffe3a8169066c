"""Typed audit events of risk classification (appended to rounds/audit.py's chain)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RiskClassified:
    run_id: int
    as_of: str
    rules_id: str
    rules_hash: str
    enterprises: int
    counts: dict
    digest: str
    computed_by: str


@dataclass(frozen=True)
class RiskOverrideRequested:
    override_id: int
    credit_code: str
    risk_class: str
    reason: str
    requested_by: str


@dataclass(frozen=True)
class RiskOverrideApproved:
    override_id: int
    credit_code: str
    risk_class: str
    requested_by: str
    approved_by: str


@dataclass(frozen=True)
class RiskComplaintsImported:
    file_sha256: str
    rows: int
    imported_by: str


@dataclass(frozen=True)
class RiskClassesCommitted:
    """The classes a round's frame committed: those of run ``run_id`` (None: never classified)
    with the approved overrides ``overrides`` (ids) in force when the frame was read."""

    run_id: int | None
    overrides: list[int]
