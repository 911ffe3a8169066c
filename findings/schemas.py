"""What a finding holds, validated the same way for the API and for imported rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from findings.categories import (
    ACTION_LABELS,
    MEASURE_LABELS,
    RESULT_LABELS,
    CertificateAction,
    MeasureKind,
    ResultCategory,
)
from shuangsui.clock import Day
from shuangsui.text import no_control, no_control_in_text

SHA256_HEX = r"^[0-9a-f]{64}$"


def _from_label(labels: dict[Any, str]) -> Any:
    """A before-validator: the Chinese label of a value becomes the value (as imports allow)."""
    by_label = {label: member.value for member, label in labels.items()}

    def convert(value: Any) -> Any:
        return by_label.get(value.strip(), value) if isinstance(value, str) else value

    return convert


# Bounds on every list of a finding: far above a real check, far below what hurts the server.
MAX_CERTIFICATES = 50
MAX_MEASURES = 20
MAX_EVIDENCE = 100


# Control characters (shuangsui.text, the rule leads follow too): the free texts (description,
# internal_note, reason, a measure's text) keep their tabs and line breaks; the short
# identifying values (a certificate's body and number, an evidence file name) allow none.
class CertificateOutcome(BaseModel):
    """A certificate the finding concerns and what happens to it."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=64, description="certification body code, e.g. CQC")
    number: str = Field(min_length=1, max_length=64)
    action: CertificateAction

    _action_label = field_validator("action", mode="before")(_from_label(ACTION_LABELS))
    _names = field_validator("body", "number")(no_control)


class Measure(BaseModel):
    """A measure ordered; 责令限期改正 (``rectify``) needs a deadline."""

    model_config = ConfigDict(extra="forbid")

    kind: MeasureKind
    deadline: Day | None = None
    text: str = Field(default="", max_length=500)

    _kind_label = field_validator("kind", mode="before")(_from_label(MEASURE_LABELS))
    _text = field_validator("text")(no_control_in_text)

    @model_validator(mode="after")
    def _deadline(self) -> Measure:
        if self.kind is MeasureKind.rectify and self.deadline is None:
            raise ValueError("责令限期改正 (rectify) needs a deadline (YYYY-MM-DD)")
        return self


class EvidenceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=SHA256_HEX)
    filename: str = Field(default="", max_length=255)

    _filename = field_validator("filename")(no_control)


class FindingIn(BaseModel):
    """One version of a finding as submitted. ``reason`` is required for every version after
    the first (a correction); ``internal_note`` is never published."""

    model_config = ConfigDict(extra="forbid")

    result: ResultCategory
    check_date: Day
    description: str = Field(default="", max_length=4000)
    certificates: list[CertificateOutcome] = Field(
        default_factory=list, max_length=MAX_CERTIFICATES
    )
    measures: list[Measure] = Field(default_factory=list, max_length=MAX_MEASURES)
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=MAX_EVIDENCE)
    internal_note: str = Field(default="", max_length=4000)
    reason: str = Field(default="", max_length=1000)

    _result_label = field_validator("result", mode="before")(_from_label(RESULT_LABELS))
    _texts = field_validator("description", "internal_note", "reason")(no_control_in_text)

    @field_validator("certificates")
    @classmethod
    def _unique_certs(cls, v: list[CertificateOutcome]) -> list[CertificateOutcome]:
        keys = [(c.body, c.number) for c in v]
        if len(set(keys)) != len(keys):
            raise ValueError("a certificate is listed twice")
        return sorted(v, key=lambda c: (c.body, c.number))

    @model_validator(mode="after")
    def _consistent(self) -> FindingIn:
        actions = {c.action for c in self.certificates}
        if self.result is ResultCategory.certificate_suspended and (
            CertificateAction.suspended not in actions
        ):
            raise ValueError("result certificate_suspended: name the suspended certificate(s)")
        if self.result is ResultCategory.certificate_withdrawn and (
            CertificateAction.withdrawn not in actions
        ):
            raise ValueError("result certificate_withdrawn: name the withdrawn certificate(s)")
        if self.result is ResultCategory.ordered_to_rectify and not any(
            m.kind in (MeasureKind.rectify, MeasureKind.rectify_now) for m in self.measures
        ):
            raise ValueError(
                "result ordered_to_rectify: add the measure (rectify with a deadline, "
                "or rectify_now)"
            )
        for m in self.measures:
            if m.deadline is not None and m.deadline < self.check_date:
                raise ValueError(f"measure {m.kind.value}: deadline is before the check date")
        return self

    def content(self) -> dict[str, Any]:
        """The version's content as JSON values (what is hashed and stored)."""
        data = self.model_dump(mode="json", exclude={"reason"})
        return data

    def content_hash(self) -> str:
        return content_digest(self.content())


def content_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 hex of a version's content as canonical JSON (keys sorted, no spaces, UTF-8):
    the ``content_hash`` stored with it, and what :mod:`findings.integrity` recomputes from the
    stored row."""
    return digest_of(canonical_value(content))


def digest_of(text: str) -> str:
    """SHA-256 hex of a content's canonical JSON text (:func:`content_digest`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# one encoder for every digest (``json.dumps`` with these options makes a new one each call,
# a third of the time of a publish's check of 20,000 versions)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# a value as :func:`content_digest` writes it, alone or inside a content
canonical_value = _CANONICAL.encode


def first_error(exc: Any) -> list[tuple[str, str]]:
    """``(field, reason)`` pairs from a pydantic ValidationError, readable by a person."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "finding"
        msg = str(err["msg"]).removeprefix("Value error, ")
        out.append((loc, msg))
    return out
