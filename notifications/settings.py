"""Settings of the notification channels: ``SHUANGSUI_SMTP_*`` and ``SHUANGSUI_NOTIFY_*``."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shuangsui.config import (
    SPAN_MAX,
    TIMEOUT_MAX,
    Settings,
    file_fault,
    folder_fault,
    get_settings,
)

logger = logging.getLogger(__name__)

# parallel deliveries of one dispatcher process, SHUANGSUI_NOTIFY_CONCURRENCY's and
# ``notifications dispatch --concurrency``'s bound: a worker is a thread holding its own SMTP
# session and database connection (99999999999999999999 built threads without end)
CONCURRENCY_MAX = 1000


class SmtpSettings(BaseSettings):
    """The outgoing mail server. ``security``: plain, starttls or ssl; login only when
    ``username`` is set. The password comes from ``password`` or a Prefect Secret block."""

    model_config = SettingsConfigDict(
        env_prefix="SHUANGSUI_SMTP_", extra="ignore", hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["plain", "starttls", "ssl"] = "plain"
    username: str = ""
    password: SecretStr = SecretStr("")
    password_block: str = ""  # name of a Prefect Secret block holding the password
    sender: str = "shuangsui@localhost"
    timeout: float = Field(default=30.0, gt=0, le=TIMEOUT_MAX, allow_inf_nan=False)
    local_hostname: str | None = None
    ca_file: str = ""  # PEM bundle of the CA that signed the server's certificate (internal CAs)

    @field_validator("ca_file")
    @classmethod
    def _a_readable_file(cls, ca_file: str) -> str:
        """A folder named here was taken, and every message then failed at its send (a FIFO
        held the sender); the file is read only when a message goes."""
        if ca_file and (fault := file_fault(Path(ca_file))):
            raise ValueError(f"{fault}: write the PEM file of the CA that signed the server's "
                             "certificate, or leave it empty")  # fmt: skip
        return ca_file

    @model_validator(mode="after")
    def _no_password_in_clear(self) -> SmtpSettings:
        has_password = bool(self.password.get_secret_value() or self.password_block)
        if has_password and self.security == "plain" and get_settings().environment == "production":
            raise ValueError(
                "SHUANGSUI_SMTP_SECURITY is plain, which would send the SMTP password in clear; "
                "set SHUANGSUI_SMTP_SECURITY=starttls (or ssl) in production"
            )
        return self

    def resolved_password(self) -> str:
        if self.password_block:
            from prefect.blocks.system import Secret

            secret = Secret.load(self.password_block, _sync=True)  # type: ignore[call-arg]
            return str(secret.get())  # type: ignore[union-attr]
        return self.password.get_secret_value()


class NotifySettings(BaseSettings):
    """Where messages go and how hard the dispatcher tries."""

    model_config = SettingsConfigDict(env_prefix="SHUANGSUI_NOTIFY_", extra="ignore")

    # auto: the file outbox in development, the real channels otherwise
    channel: Literal["auto", "file", "live"] = "auto"
    template_dir: Path | None = None  # a bureau's edited templates, looked up first
    coordinator_name: str = "抽查协调员"
    coordinator_email: str = ""
    coordinator_webhook_url: str = ""
    coordinator_webhook_kind: Literal["generic", "dingtalk", "wecom"] = "generic"
    coordinator_language: str = "zh"
    webhook_secret: SecretStr = SecretStr("")  # default: derived from SHUANGSUI_SECRET_KEY
    dingtalk_secret: SecretStr = SecretStr("")  # for DingTalk robots with 加签
    webhook_timeout: float = Field(default=10.0, gt=0, le=TIMEOUT_MAX, allow_inf_nan=False)
    max_attempts: int = Field(default=8, ge=1, le=1000)
    backoff_base_seconds: float = Field(default=60.0, ge=0, le=SPAN_MAX, allow_inf_nan=False)
    backoff_max_seconds: float = Field(default=6 * 3600.0, ge=0, le=SPAN_MAX, allow_inf_nan=False)
    # a dispatcher renews what it holds every quarter lease (notifications/dispatch.py):
    # shorter than a second, the renewals alone would keep the database busy
    lease_seconds: float = Field(default=300.0, ge=1.0, le=SPAN_MAX, allow_inf_nan=False)
    # how often ``serve`` checks its secret key is still the current one (notifications/link_key.py)
    key_check_seconds: float = Field(default=10.0, ge=0.1, le=SPAN_MAX, allow_inf_nan=False)
    # a mail server or webhook host that cannot be reached is paused (notifications/breaker.py)
    outage_backoff_base_seconds: float = Field(default=60.0, ge=0, le=SPAN_MAX, allow_inf_nan=False)
    outage_backoff_max_seconds: float = Field(
        default=1800.0, ge=0, le=SPAN_MAX, allow_inf_nan=False
    )
    # then its messages spend attempts again
    outage_give_up_seconds: float = Field(
        default=7 * 24 * 3600.0, ge=0, le=SPAN_MAX, allow_inf_nan=False
    )
    # 0 claimed nothing and sent nothing, in silence; 0 workers the same
    batch_size: int = Field(default=100, ge=1, le=10_000)
    # workers (connections) per dispatcher process
    concurrency: int = Field(default=4, ge=1, le=CONCURRENCY_MAX)
    # outcomes written per transaction; a crash repeats at most concurrency + 2 * this many
    # messages per process (notifications/dispatch.py)
    record_batch: int = Field(default=16, ge=1, le=10_000)
    # dispatcher processes once there is a backlog: one Python process
    # delivers what one core can; in flight at most processes * concurrency
    processes: int = Field(default_factory=lambda: min(2, os.cpu_count() or 1), ge=1, le=32)
    # ... but only for a backlog of at least this many due messages: a helper spends 1-5 s
    # starting (a fresh interpreter and its imports) before its first claim, longer than one
    # process needs for a few thousand messages (docs/benchmarks.md, "3,000 or 10,000")
    helper_min_backlog: int = Field(default=5000, ge=0, le=10**9)

    @field_validator("template_dir")
    @classmethod
    def _a_templates_folder(cls, folder: Path | None) -> Path | None:
        """A file, or a folder that does not exist, was taken and the bureau's templates were
        never looked up: its edited notices went out as shuangsui's own, in silence."""
        if folder is not None and (fault := folder_fault(folder, made_if_missing=False)):
            raise ValueError(f"{fault}: the bureau's edited templates are a folder (zh/*.txt.j2, "
                             "en/*.txt.j2); leave it unset to use shuangsui's own")  # fmt: skip
        return folder

    def live(self, settings: Settings | None = None) -> bool:
        if self.channel == "auto":
            return (settings or get_settings()).environment != "development"
        return self.channel == "live"

    def resolved_webhook_secret(self, settings: Settings | None = None) -> bytes:
        """The key generic webhooks are signed with. Derived from the application secret when
        not set, so receivers never hold the key that signs submission tokens."""
        if self.webhook_secret.get_secret_value():
            return self.webhook_secret.get_secret_value().encode()
        key = (settings or get_settings()).secret_key.get_secret_value().encode()
        return hmac.new(key, b"shuangsui webhook signing v1", hashlib.sha256).hexdigest().encode()

    def outbox_dir(self, settings: Settings | None = None) -> Path:
        return (settings or get_settings()).home / "outbox"
