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
class FindingsImported:
    file: str
    sha256: str
    versions: int
    imported_by: str


@dataclass(frozen=True)
class ResultPublished:
    versions: int
    site_digest: str
