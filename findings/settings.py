"""Knobs of findings and publishing, all ``SHUANGSUI_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from findings.media import normalise

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

    evidence_max_bytes: int = 25 * 1024 * 1024
    evidence_media_types: str = DEFAULT_MEDIA_TYPES
    # For years the official calendar does not know yet: ISO dates or ranges "a..b", comma-separated
    extra_holidays: str = ""
    extra_workdays: str = ""
    due_soon_working_days: int = 5
    correction_deadline_working_days: int = 5

    @property
    def media_types(self) -> set[str]:
        return {normalise(m) for m in self.evidence_media_types.split(",") if m.strip()}
