"""Typed audit events of findings, appended to the rounds' hash-chained log."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FindingRecorded:
    credit_code: str
    version: int
    content_hash: str
    submitted_by: str
    reason: str
    signed_by: list


@dataclass(frozen=True)
class FindingSigned:
    credit_code: str
    version: int
    inspector_id: str
    final: bool


@dataclass(frozen=True)
class ImportedVersion:
    """A version a findings import added, as ``FindingRecorded`` says one the API added (its
    submitter is the import's ``submitted_by``), with its round: the import's event names none."""

    round_key: str
    credit_code: str
    version: int
    content_hash: str
    reason: str
    signed_by: list


@dataclass(frozen=True)
class FindingsImported:
    """One findings file imported, in the transaction that added its versions: one event per
    file, not one per version (5,000 ``FindingRecorded`` events, each reading the log's head,
    made a 5,000-row import a quarter to a third slower), listing each version added
    (``recorded``) so that ``shuangsui findings verify`` checks it as it checks one the API
    recorded. An event without ``recorded`` (an import before they were listed) only counted
    its versions."""

    file: str
    sha256: str
    versions: int
    imported_by: str
    submitted_by: str
    recorded: list[ImportedVersion]


@dataclass(frozen=True)
class ResultPublished:
    versions: int
    site_digest: str
