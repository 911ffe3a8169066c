"""Settings of the exchange: environment variables prefixed ``SHUANGSUI_`` (like the rest)."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shuangsui.config import address_fault, get_settings


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
    exchange_timeout: float = Field(default=10.0, gt=0)
    # a new checkpoint is signed when the tree grew, or the last one is older than this
    exchange_checkpoint_interval: int = Field(default=300, ge=1, le=86_400)
    # a signed request is valid this long after ``created`` (and never after ``expires``)
    exchange_signature_max_age: int = Field(default=300, ge=1, le=86_400)
    # the URL partners reach our feed at (their directory's ``base_url`` for us); signed
    # requests must target it, whatever Host header arrives. Default SHUANGSUI_PUBLIC_BASE_URL
    exchange_public_url: str | None = None

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


def exchange_settings() -> ExchangeSettings:
    """Read afresh each time (cheap): tests and operators change the environment."""
    return ExchangeSettings()


def origin_of(bureau_code: str) -> str:
    """The log's name (checkpoint origin, key name): ``shuangsui.<bureau code>``."""
    return f"shuangsui.{bureau_code}"
