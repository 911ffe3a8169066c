"""What a lead is made of, validated the same way from the API and from an import row."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from leads.models import SOURCE_LABELS, LeadSource
from registry import uscc
from registry.validate import CellError, check_visible
from shuangsui.clock import Day
from shuangsui.text import no_control, no_control_in_text

DEFAULT_DEADLINE_DAYS = 60  # 线索办理期限 when none is given (docs/leads.md)


class LeadsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHUANGSUI_", extra="ignore")

    leads_deadline_days: int = Field(default=DEFAULT_DEADLINE_DAYS, ge=1, le=3650)


Short = Annotated[str, Field(max_length=200)]


@cache
def _whitelist() -> dict[str, uscc.WhitelistEntry]:
    return uscc.load_whitelist()


def source_of(value: object) -> object:
    """A source by its value (``complaint``) or its label (``投诉举报``)."""
    if isinstance(value, str):
        text = value.strip()
        for source, label in SOURCE_LABELS.items():
            if text == label:
                return source
        return text
    return value


class LeadIn(BaseModel):
    """A lead as received. ``reporter`` and ``allegation`` stay internal, always."""

    model_config = ConfigDict(extra="forbid")

    source: LeadSource = Field(
        description="complaint, risk_monitoring, partner_referral, assistance_request or other "
        "(or 投诉举报, 风险监测, ...)"
    )
    credit_code: str = Field(max_length=40, description="统一社会信用代码 of the enterprise")
    category: str = Field(min_length=1, max_length=64, description="allegation category")
    received_on: Day
    deadline: Day | None = Field(
        default=None, description="default: received_on + SHUANGSUI_LEADS_DEADLINE_DAYS (60)"
    )
    confidential: bool = Field(default=True, description="the reporter is not shown in lists")
    reporter: Short = Field(default="", description="who reported it (never published)")
    allegation: str = Field(default="", max_length=5000, description="never published")
    external_ref: Short | None = Field(default=None, description="the sender's own reference")

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: object) -> object:
        return source_of(value)

    @field_validator("credit_code")
    @classmethod
    def _code(cls, value: str) -> str:
        code = value.strip().upper()
        problem = uscc.problem(code, _whitelist())
        if problem:
            raise ValueError(problem)
        return code

    @field_validator("category", "reporter", "external_ref")
    @classmethod
    def _visible(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_visible(no_control(value.strip()))
        except CellError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("allegation")
    @classmethod
    def _text(cls, value: str) -> str:
        return no_control_in_text(value)  # line breaks and tabs may stay in an allegation

    @model_validator(mode="after")
    def _dates(self, info: ValidationInfo) -> LeadIn:
        if not self.category:
            raise ValueError("category: must not be blank")
        if self.deadline is None:
            # an import reads the setting once for its file (a millisecond a read) and passes
            # it as ``context={"deadline_days": N}``
            days = (info.context or {}).get("deadline_days") or LeadsSettings().leads_deadline_days
            self.deadline = self.received_on + dt.timedelta(days=days)
        elif self.deadline < self.received_on:
            raise ValueError(f"deadline: {self.deadline} is before received_on {self.received_on}")
        return self
