"""Knobs of findings and publishing, all ``SHUANGSUI_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from findings.deadlines import parse_days
from findings.media import normalise
from shuangsui.config import BYTES_MAX, WORKING_DAYS_MAX

# HEIC/HEIF: phone photos (iPhones take them so). Their sequences (image/heic-sequence,
# image/heif-sequence) are checked and labelled too when added.
DEFAULT_MEDIA_TYPES = (
    "application/pdf,image/jpeg,image/png,image/webp,image/heic,image/heif,"
    "video/mp4,audio/mpeg,text/plain,"
    "application/zip,application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)


class FindingsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHUANGSUI_", extra="ignore")

    evidence_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1, le=BYTES_MAX)
    evidence_media_types: str = DEFAULT_MEDIA_TYPES
    # For years the official calendar does not know yet: ISO dates or ranges "a..b", comma-separated
    extra_holidays: str = ""
    extra_workdays: str = ""
    due_soon_working_days: int = Field(default=5, ge=0, le=WORKING_DAYS_MAX)
    correction_deadline_working_days: int = Field(default=5, ge=1, le=WORKING_DAYS_MAX)

    @field_validator("extra_holidays", "extra_workdays")
    @classmethod
    def _days(cls, text: str) -> str:
        """Read when the settings are: a day mistyped ended the deadlines page, a 延期 and an
        inspector's link in a traceback where the calendar was first needed."""
        try:
            parse_days(text)
        except ValueError as exc:
            raise ValueError(
                f"{exc}; write days as YYYY-MM-DD and spans as YYYY-MM-DD..YYYY-MM-DD, "
                "separated by commas"
            ) from None
        return text

    @property
    def media_types(self) -> set[str]:
        return {normalise(m) for m in self.evidence_media_types.split(",") if m.strip()}
