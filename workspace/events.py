"""Typed audit events of the workspace (the findings service records its own)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkspaceOpened:
    """A link's token was exchanged for a workspace session."""

    role: str
    who: str
    credit_code: str


@dataclass(frozen=True)
class DraftSaved:
    credit_code: str
    inspector_id: str
    draft_sha256: str


@dataclass(frozen=True)
class EvidenceAttached:
    credit_code: str
    inspector_id: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ExportDownloaded:
    what: str
    file_format: str
    by: str


@dataclass(frozen=True)
class DeadLettersRequeued:
    count: int
    by: str


@dataclass(frozen=True)
class AdhocRequested:
    """A coordinator started an ad hoc round (``step`` start) or its ceremony."""

    plan: str
    reason: str
    by: str
    step: str


@dataclass(frozen=True)
class CeremonyEntered:
    """A coordinator entered a scheduled round's ceremony digits on its page (the draw that
    follows records the digits and witnesses: ``DrawMade``)."""

    plan: str
    by: str
