"""Settings of the exchange: environment variables prefixed ``SHUANGSUI_`` (like the rest)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shuangsui.config import TIMEOUT_MAX, address_fault, get_settings


class ExchangeSettings(BaseSettings):
    # an address may hold a password: no value is quoted in an error
    model_config = SettingsConfigDict(
        env_prefix="SHUANGSUI_", extra="ignore", hide_input_in_errors=True
    )

    partners_file: Path | None = Field(
        default=None, description="partner directory; default $SHUANGSUI_HOME/partners.toml"
    )
    keys_dir: Path | None = Field(default=None, description="default $SHUANGSUI_HOME/keys")
    exchange_page_size: int = Field(default=1000, ge=1, le=10000)
    exchange_timeout: float = Field(default=10.0, gt=0, le=TIMEOUT_MAX, allow_inf_nan=False)
    # a new checkpoint is signed when the tree grew, or the last one is older than this
    exchange_checkpoint_interval: int = Field(default=300, ge=1, le=86_400)
    # a signed request is valid this long after ``created`` (and never after ``expires``)
    exchange_signature_max_age: int = Field(default=300, ge=1, le=86_400)
    # the URL partners reach our feed at (their directory's ``base_url`` for us); signed
    # requests must target it, whatever Host header arrives. Default SHUANGSUI_PUBLIC_BASE_URL
    exchange_public_url: str | None = None
    # how long a partner's statement of the entry kinds it reads counts for the writer's rule
    # (``exchange.kinds.may_write``): a bureau that syncs weekly needs more than the default
    exchange_statement_max_age: dt.timedelta = Field(
        default=dt.timedelta(hours=48),
        description="a partner's statement of the entry kinds it reads counts this long after "
        "a sync took it (seconds, or ISO 8601 such as PT48H or P8D); 1 hour to 30 days",
    )

    @field_validator("exchange_public_url")
    @classmethod
    def _the_feeds_address(cls, url: str | None) -> str | None:
        """An address partners can sign for (``shuangsui.config.address_fault``; a path is
        allowed, a proxy may serve the feed under one). Its pattern let a user name and
        password through, and a port 0 or no host at all."""
        if url and (fault := address_fault(url, path=True)):
            raise ValueError(
                f"{fault}; write the address partners reach this bureau's feed at, such as "
                "https://shuangsui.example.gov.cn, or leave it empty for "
                "SHUANGSUI_PUBLIC_BASE_URL"
            )
        return url

    @field_validator("exchange_statement_max_age", mode="before")
    @classmethod
    def _a_span_of_hours_to_days(cls, value: Any) -> dt.timedelta:
        """A duration within ``STATEMENT_AGES``, read as seconds or ISO 8601; the value is
        quoted when refused (it is no secret, and the operator sees what was read)."""
        span = duration(value)
        low, high = STATEMENT_AGES
        if span is None:
            raise ValueError(
                f"{str(value)[:40]!r} is not a duration: write seconds (172800) or ISO 8601 "
                "such as PT48H or P8D"
            )
        if not low <= span <= high:
            shown = dt.timedelta(0) < span < dt.timedelta.max
            read = f" ({span_words(span)})" if shown else ""
            raise ValueError(
                f"{str(value)[:40]!r}{read} is outside 1 hour to 30 days: how long a partner's "
                "statement of the entry kinds it reads counts for writing a new kind "
                '(docs/exchange-protocol.md, "How long a statement counts")'
            )
        return span

    @property
    def partners_path(self) -> Path:
        return self.partners_file or get_settings().home / "partners.toml"

    @property
    def keys_path(self) -> Path:
        return self.keys_dir or get_settings().home / "keys"

    def public_url(self, public_base_url: str) -> str:
        """Our feed's public base URL, normalised as a partner's client sends it."""
        return str(httpx.URL((self.exchange_public_url or public_base_url).rstrip("/")))

    def for_home(self, home: Path) -> tuple[Path, Path]:
        """(partners file, keys dir) of the bureau whose data directory is ``home``."""
        return self.partners_file or home / "partners.toml", self.keys_dir or home / "keys"


# The bounds of ``SHUANGSUI_EXCHANGE_STATEMENT_MAX_AGE``: below an hour the hourly flow's own
# statements would lapse between two syncs; past a month the statement is no evidence of
# what the partner runs now.
STATEMENT_AGES = (dt.timedelta(hours=1), dt.timedelta(days=30))
_SPAN = TypeAdapter(dt.timedelta)


def duration(value: Any) -> dt.timedelta | None:
    """``value`` as a duration: a whole number of seconds, or text pydantic reads as one
    (ISO 8601 such as ``PT48H``, ``HH:MM:SS``); None if it is neither."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        value = int(value)
    if isinstance(value, int) and abs(value) >= 10**9:  # far past the bounds (and a timedelta)
        return dt.timedelta.max if value > 0 else dt.timedelta.min
    try:
        return _SPAN.validate_python(value)
    except ValidationError:
        return None


def span_words(span: dt.timedelta, zh: bool = False) -> str:
    """A positive span as people say it: whole days from three days (``8 days``), else
    hours, then what is left in minutes and seconds (``48 hours``, ``1 hour 30 minutes``); in
    Chinese with ``zh`` (``48 小时``, ``8 天``)."""
    seconds = int(span.total_seconds())
    whole_days = seconds % 86400 == 0 and seconds >= 3 * 86400
    days, rest = divmod(seconds, 86400) if whole_days else (0, seconds)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    units = (("天", "day"), ("小时", "hour"), ("分钟", "minute"), ("秒", "second"))
    counts = zip((days, hours, minutes, seconds), units, strict=True)
    parts = [f"{n} {zh_unit}" if zh else f"{n} {unit}{'s' if n != 1 else ''}"
             for n, (zh_unit, unit) in counts if n]  # fmt: skip
    return " ".join(parts) or ("0 秒" if zh else "0 seconds")


def exchange_settings() -> ExchangeSettings:
    """Read afresh each time (cheap): tests and operators change the environment."""
    return ExchangeSettings()


def origin_of(bureau_code: str) -> str:
    """The log's name (checkpoint origin, key name): ``shuangsui.<bureau code>``."""
    return f"shuangsui.{bureau_code}"
