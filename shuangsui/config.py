"""The one settings object. Every knob is an environment variable prefixed ``SHUANGSUI_``."""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import logging
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

logger = logging.getLogger(__name__)

# Words that mark a placeholder wherever they appear in a secret (compared in lower case).
PLACEHOLDER_WORDS = (
    "changethis",
    "changeme",
    "change-me",
    "change_me",
    "password",
    "passw0rd",
    "secret",
    "placeholder",
    "example",
    "shuangsui",
)
SECRET_MIN_LENGTH = 32
MAKE_A_SECRET = 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
_HEX = re.compile(r"[0-9a-fA-F]+")


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is not fit for production, or None.

    Strong: at least 32 characters, no placeholder word, at least 8 distinct characters, and
    three kinds of character (lower case, upper case, digits, others), or a random token of
    two kinds: mixed-case letters (base64url) or hex digits and letters.
    """
    if any(word in secret.lower() for word in PLACEHOLDER_WORDS):
        return "is a placeholder (or holds a word such as 'changeme', 'password', 'secret')"
    if len(secret) < SECRET_MIN_LENGTH:
        return f"is {len(secret)} characters long; at least {SECRET_MIN_LENGTH} are needed"
    if len(set(secret)) < 8:
        return "repeats too few distinct characters"
    kinds = {
        "lower" if c.islower() else "upper" if c.isupper() else "digit" if c.isdigit() else "other"
        for c in secret
    }
    token = kinds == {"lower", "upper"} or (len(kinds) == 2 and _HEX.fullmatch(secret))
    if len(kinds) < 3 and not token:
        return "mixes too few kinds of characters (lower case, upper case, digits, others)"
    return None


MAX_BEACON_LEAD = dt.timedelta(hours=24)
SQLITE_URL = "sqlite:////ABSOLUTE/PATH/shuangsui.db"
POSTGRES_URL = "postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE"
# the URL schemes shuangsui's engines are made for (SQLAlchemy's name: the dialect and driver)
DATABASES = {"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"}


def address_fault(url: str, *, path: bool) -> str | None:
    """Why ``url`` is not a web address a setting can hold, or None: http or https, a host and
    perhaps a port, and nothing else (no user name or password, query or fragment); a path
    only where ``path``. Never quotes the value (a user name and password may be in it)."""
    if url != url.strip() or any(c.isspace() for c in url):
        return "holds a space"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not an address (its host or port cannot be read)"
    if parts.scheme.lower() not in ("http", "https"):
        return "needs http:// or https:// before the host"
    if not parts.hostname:
        return "names no host"
    if port == 0:
        return "has port 0"
    if "@" in parts.netloc:
        return "must not hold a user name or password"
    if "?" in url or "#" in url:
        return "must not hold a query (?) or a fragment (#)"
    if not path and parts.path not in ("", "/"):
        return "must not hold a path: the links and pages of shuangsui start at the root (/w/…)"
    return None


def _loopback(host: str) -> bool:
    """Whether ``host`` is an IP address of this machine's loopback (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def database_fault(url: str) -> str | None:
    """Why ``url`` is not a database URL shuangsui can use, or None: SQLite in a file, or
    PostgreSQL through psycopg. Never quotes the value (it may hold the password)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"is not a database URL; write {SQLITE_URL} or {POSTGRES_URL}"
    scheme = parsed.drivername.lower()
    if scheme in DATABASES:
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            return (f"names no file (a database in memory keeps nothing from one command to the "
                    f"next); write {SQLITE_URL}")  # fmt: skip
        return None
    if scheme.split("+")[0] in ("postgres", "postgresql"):
        return f"{scheme}:// is not one shuangsui connects with; write {POSTGRES_URL} (psycopg 3)"
    return f"{scheme} is not a database shuangsui runs on: SQLite ({SQLITE_URL}) or PostgreSQL"


# Upper bounds of the integer settings, far above any bureau's need: without one, a setting
# of 99999999999999999999 was taken (a dispatcher built a thread per worker without end).
WORKING_DAYS_MAX = 250  # a count of working days: about a year of them
DAYS_MAX = 3650  # a count of days: ten years
BYTES_MAX = 1 << 30  # a size in bytes: 1 GiB
# ... and of the number (float) settings, which also refuse nan and infinity: a timeout or a
# lease of 1e308 or inf seconds was taken (``notifications dispatch`` ended in OverflowError's
# traceback with a lease of 1e308; with a header timeout of inf ``serve`` still held a silent
# connection after 30 s).
TIMEOUT_MAX = 3600  # seconds waited for one answer or one request: an hour
SPAN_MAX = 30 * 86400  # seconds of a back-off, a lease or an outage: 30 days
FRACTION_MAX = 10  # a fraction of a frame: ten times its size
# pydantic's errors for a number out of its bounds, or not finite
OUT_OF_BOUNDS = frozenset(
    {"greater_than_equal", "greater_than", "less_than_equal", "less_than", "finite_number"}
)


def folder_fault(path: Path, *, made_if_missing: bool) -> str | None:
    """Why ``path`` cannot be the folder a setting names, or None: it is a file, or lies under
    one (every use of it would fail, one at a time), or it does not exist where nothing makes
    it (``made_if_missing`` False: a folder only read, which a typing slip would leave
    unread in silence)."""
    for above in (path, *path.parents):
        if above.exists():
            if not above.is_dir():
                return f"{above} is a file, not a folder"
            break
    if not made_if_missing and not path.is_dir():
        return f"{path} does not exist"
    return None


def file_fault(path: Path) -> str | None:
    """Why ``path`` cannot be the file a setting names, or None: it does not exist, is a
    folder, is no regular file (a FIFO would hold its reader for ever) or cannot be read."""
    if not path.exists():
        return f"{path} does not exist"
    if path.is_dir():
        return f"{path} is a folder, not a file"
    if not path.is_file():
        return f"{path} is not a regular file (a pipe or a device)"
    if not os.access(path, os.R_OK):
        return f"{path} cannot be read by this process"
    return None


def bounds_said(cls: type[BaseSettings], error: Mapping[str, Any]) -> str:
    """For a number setting refused for its size (``error``, one of pydantic's), what
    ``cls`` allows and the value read, as a refusal ends: `` (allowed: at least 1 and at most
    1000; read: 99999999999999999999)``; "" for any other error. A number is no secret: other
    values are never quoted."""
    if error.get("type") not in OUT_OF_BOUNDS or not error.get("loc"):
        return ""
    field = cls.model_fields.get(str(error["loc"][0]))
    if field is None:
        return ""
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    allowed = [
        f"{said} {getattr(rule, bound)}"
        for rule in field.metadata
        for bound, said in words.items()
        if hasattr(rule, bound)
    ]
    return f" (allowed: {' and '.join(allowed)}; read: {str(error.get('input'))[:40]})"


class Settings(BaseSettings):
    # errors never echo the values read (they hold the secret key and the database password)
    model_config = SettingsConfigDict(
        env_prefix="SHUANGSUI_", extra="ignore", hide_input_in_errors=True
    )

    environment: Literal["development", "test", "production"] = "development"
    home: Path = Field(default=Path(".shuangsui"), description="data directory")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite under the data directory"
    )
    bureau_code: str = Field(default="350000", pattern=r"^[0-9]{6}$")
    bureau_name: str = "福建省认证执法局"
    timezone: str = "Asia/Shanghai"
    publish_deadline_working_days: int = Field(
        default=20,
        ge=1,
        le=WORKING_DAYS_MAX,
        description="working days from a result's final signature to publication",
    )
    plans_dir: Path = Field(default=Path("plans"), description="the bureau's YAML draw plans")
    registry_max_age_days: int = Field(
        default=35,
        ge=1,
        le=DAYS_MAX,
        description="a round is held when the registry's last import is older",
    )
    frame_change_limit: float = Field(
        default=0.25,
        ge=0,
        le=FRACTION_MAX,
        allow_inf_nan=False,
        description="a round is held when its frame moved more than this fraction from the last "
        "round of the same check item",
    )
    entropy_sources: str = Field(
        default="witness-digits",
        description="comma-separated public entropy sources a round commits to: "
        "witness-digits, beacon",
    )
    beacon_url: str = ""
    beacon_chain_hash: str = ""
    beacon_lead: dt.timedelta = Field(
        default=dt.timedelta(minutes=15),
        description="the beacon round named is the first at or after the commitment plus this "
        "(seconds, or ISO 8601 such as PT15M): time to publish the commitment before the value",
    )
    secret_key: SecretStr = SecretStr("dev-secret")
    public_base_url: str = "http://127.0.0.1:8350"
    site_base_url: str = Field(
        default="",
        description="the public site's own address, for the absolute links of its catalogue; "
        "empty: links relative to the catalogue (never the API's address)",
    )
    token_grace_days: int = Field(
        default=30,
        ge=0,
        le=DAYS_MAX,
        description="days an inspector's link still works after the round's findings deadline",
    )
    api_max_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        le=BYTES_MAX,
        description="largest request body the API reads (not evidence)",
    )
    serve_max_connections: int = Field(
        default=256,
        ge=2,
        le=100_000,
        description="shuangsui serve: with this many connections open (or requests running) a "
        "request is answered 503; a connection opened past twice as many is closed at once",
    )
    serve_header_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=TIMEOUT_MAX,
        allow_inf_nan=False,
        description="shuangsui serve: a request's line and headers must arrive within this "
        "many seconds of the connection's opening or of the previous answer",
    )
    serve_body_timeout_seconds: float = Field(
        default=120,
        gt=0,
        le=TIMEOUT_MAX,
        allow_inf_nan=False,
        description="shuangsui serve: a request whose body sends no byte for this many seconds "
        "is closed (a slow body is not: only a silence)",
    )
    serve_keep_alive_seconds: int = Field(
        default=5,
        ge=1,
        le=3600,
        description="shuangsui serve: an idle connection is closed after this",
    )

    @field_validator("home")
    @classmethod
    def _a_folder(cls, home: Path) -> Path:
        """A data directory that is a file (or lies under one) was taken: with the database on
        a server, ``shuangsui serve`` started and each upload, key and outbox write failed at
        a request; with SQLite's, every command said the database file cannot be opened."""
        if fault := folder_fault(home, made_if_missing=True):
            raise ValueError(
                f"{fault}: the data directory (keys, evidence, outbox, bundles; SQLite's "
                "database) is a folder, made if missing"
            )
        return home

    @field_validator("plans_dir")
    @classmethod
    def _a_plans_folder(cls, plans: Path) -> Path:
        """A file named as the plans folder was taken; each draw then said the folder "does not
        exist". A missing folder is left to the commands that read plans: one that needs none
        (an import, a publish) runs before the bureau has written its first plan."""
        if fault := folder_fault(plans, made_if_missing=True):
            raise ValueError(f"{fault}: the draw plans are YAML files in a folder")
        return plans

    @field_validator("database_url")
    @classmethod
    def _a_database(cls, url: str | None) -> str | None:
        if url and (fault := database_fault(url)):
            raise ValueError(fault)
        return url

    @field_validator("timezone")
    @classmethod
    def _a_time_zone(cls, name: str) -> str:
        """A zone of the IANA database: a misspelt one ended a publish, the deadlines and
        every date of a round in ``ZoneInfoNotFoundError``'s traceback."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not a time zone of the IANA database; write one such as Asia/Shanghai"
            ) from None
        return name

    @field_validator("public_base_url")
    @classmethod
    def _the_servers_address(cls, url: str) -> str:
        if fault := address_fault(url, path=False):
            raise ValueError(
                f"{fault}; write the address inspectors' links and the workspace's forms use, "
                "such as https://shuangsui.example.gov.cn or http://127.0.0.1:8350"
            )
        return url

    @field_validator("site_base_url")
    @classmethod
    def _the_sites_address(cls, url: str) -> str:
        if url and (fault := address_fault(url, path=True)):
            raise ValueError(
                f"{fault}; write the public site's address, such as "
                "https://www.example.gov.cn/shuangsui/, or leave it empty"
            )
        return url

    @field_validator("beacon_lead", mode="wrap")
    @classmethod
    def _a_lead_of_hours_at_most(
        cls, lead: object, read: ValidatorFunctionWrapHandler
    ) -> dt.timedelta:
        """A whole number is seconds (pydantic reads only ISO 8601 and HH:MM:SS from text).
        A round waits its lead for its draw: days would hold a month's checks back. What is
        not a duration (``inf``, ``1e400``) is refused with the range too, as a number out of
        it is."""
        if isinstance(lead, str) and re.fullmatch(r"\s*-?[0-9]+\s*", lead):
            lead = int(lead)
        allowed = (
            "must be between 0 and 24 hours (the round named is this long after its "
            "commitment and its draw waits for it), such as PT15M or 900 (seconds)"
        )
        try:
            taken: dt.timedelta = read(lead)
        except ValidationError:
            raise ValueError(f"not a duration; {allowed}") from None
        if taken < dt.timedelta(0) or taken > MAX_BEACON_LEAD:
            raise ValueError(allowed)
        return taken

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        if weakness := secret_weakness(self.secret_key.get_secret_value()):
            raise ValueError(
                f"SHUANGSUI_SECRET_KEY {weakness}; production needs a strong random secret, "
                f"make one with: {MAKE_A_SECRET}"
            )
        return self

    @model_validator(mode="after")
    def _an_absolute_home_in_production(self) -> Settings:
        """Each process reads a relative data directory from its own working directory, and a
        deployment's workers run from SHUANGSUI_REPO_DIR (prefect.yaml), ``serve`` and the
        operator's commands from wherever they start: each had its own keys, evidence and
        outbox (two keys of the bureau made by ``partners keygen`` run from two folders)."""
        if self.environment == "production" and not self.home.is_absolute():
            raise ValueError(
                f"SHUANGSUI_HOME is {self.home}, a path relative to the working directory; in "
                "production the workers run from SHUANGSUI_REPO_DIR and other commands from "
                "where they start, each with a data directory of its own: write an absolute "
                "path, such as /var/lib/shuangsui"
            )
        return self

    @model_validator(mode="after")
    def _a_beacon_lead_in_production(self) -> Settings:
        """With no lead the round named is the next (seconds away on drand's chains): its value
        exists before the commitment can be put on the site or posted."""
        if self.environment == "production" and self.beacon_lead <= dt.timedelta(0):
            raise ValueError(
                "SHUANGSUI_BEACON_LEAD is 0; in production the beacon round named must come "
                "after the commitment is published: write a lead such as PT15M (the default)"
            )
        return self

    @model_validator(mode="after")
    def _links_inspectors_can_open_in_production(self) -> Settings:
        """The notices' links and the workspace's forms start at SHUANGSUI_PUBLIC_BASE_URL, and
        inspectors open them on their phones: unset in production, a round's notices went out
        with links to http://127.0.0.1:8350 (the default), which open nothing, and nothing said
        so (found following the README's production path)."""
        host = (urlsplit(self.public_base_url).hostname or "").lower()
        if self.environment == "production" and (host == "localhost" or _loopback(host)):
            said = "" if "public_base_url" in self.model_fields_set else ", the default"
            raise ValueError(
                f"SHUANGSUI_PUBLIC_BASE_URL names {host}{said}, this machine itself; in "
                "production the notices' links and the workspace's forms are opened on "
                "inspectors' phones: write the address they reach shuangsui serve at, such as "
                "https://shuangsui.example.gov.cn"
            )
        return self

    @property
    def entropy_source_list(self) -> list[str]:
        return [s.strip() for s in self.entropy_sources.split(",") if s.strip()]

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'shuangsui.db').resolve()}"

    @property
    def database_url_for_logs(self) -> str:
        """The database URL with any password replaced by ``***``."""
        return scrub_url(self.resolved_database_url)


def scrub_url(url: str) -> str:
    """``url`` fit for a log line or a message: every password replaced by ``***``, the one
    after the user name and any given as a query parameter (libpq and psycopg read
    ``?password=`` and ``?sslpassword=`` too), which ``hide_password`` leaves in clear."""
    parsed = make_url(url)
    text = parsed.set(query={}).render_as_string(hide_password=True)
    pairs = [(key, value) for key, values in parsed.query.items()
             for value in ((values,) if isinstance(values, str) else values)]  # fmt: skip
    if not pairs:
        return text
    shown = [(key, "***" if "password" in key.lower() else value) for key, value in pairs]
    return f"{text}?{urlencode(shown, safe='*')}"


# Variables named SHUANGSUI_… that are no setting: the test suite's and the benchmarks' own, and
# the checkout a deployment's workers run from (prefect.yaml's pull step).
NOT_SETTINGS_PREFIXES = ("SHUANGSUI_TEST_", "SHUANGSUI_REQUIRE_", "SHUANGSUI_BENCH_")
NOT_SETTINGS = frozenset({"SHUANGSUI_REPO_DIR"})


def setting_names_of(classes: Iterable[type[BaseSettings]]) -> set[str]:
    """The environment variables ``classes`` read, upper case (each ``SHUANGSUI_…`` prefix and
    field name)."""
    return {
        f"{cls.model_config.get('env_prefix', '')}{field}".upper()
        for cls in classes
        for field in cls.model_fields
    }


def unknown_variables(environ: Mapping[str, str], known: set[str]) -> list[str]:
    """A sentence for each ``SHUANGSUI_*`` variable of ``environ`` that no setting reads (in
    any case: the settings read them so), naming the setting it is nearest. Such a variable
    was ignored in silence: ``SHUANGSUI_ENVIRONMNET=production`` ran a production worker as
    ``development``. Never quotes a value (it may be a password)."""
    faults = []
    for name in sorted(environ):
        upper = name.upper()
        if (not upper.startswith("SHUANGSUI_") or upper in known or upper in NOT_SETTINGS
                or upper.startswith(NOT_SETTINGS_PREFIXES)):  # fmt: skip
            continue
        # compared without the prefix all share, which would make every name look near
        tails = {k.removeprefix("SHUANGSUI_"): k for k in sorted(known)}
        near = [
            tails[t]
            for t in difflib.get_close_matches(upper[len("SHUANGSUI_") :], tails, n=1, cutoff=0.75)
        ]
        hint = f" (did you mean {near[0]}?)" if near else (
            '; none is named near it (README.md, "Configuration")')  # fmt: skip
        faults.append(f"{name} is not a setting of shuangsui{hint}")
    return faults


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    logger.debug(
        "settings loaded: home=%s database=%s", settings.home, settings.database_url_for_logs
    )
    return settings
