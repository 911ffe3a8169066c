"""Typed audit events of leads, appended to the rounds' hash-chained log. None carries the
reporter or the allegation's text: the audit log is shown to auditors, not only to the office
that keeps the lead."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeadReceived:
    lead_id: int
    source: str
    credit_code: str
    category: str
    deadline: str
    by: str


@dataclass(frozen=True)
class LeadsImported:
    file: str
    sha256: str
    lead_ids: list
    by: str


@dataclass(frozen=True)
class LeadAccepted:
    lead_id: int
    check_item: str
    urgent: bool
    reason: str
    by: str


@dataclass(frozen=True)
class LeadMerged:
    lead_id: int
    into: int
    reason: str
    by: str


@dataclass(frozen=True)
class LeadRejected:
    lead_id: int
    reason: str
    by: str


@dataclass(frozen=True)
class LeadsTargeted:
    """A committed round's frame targets these leads' enterprises (reason ``线索 <id>: ...``)."""

    lead_ids: list


@dataclass(frozen=True)
class LeadAnswered:
    lead_id: int
    round_key: str
    credit_code: str
    finding_id: int
