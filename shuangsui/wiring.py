"""Connect the parts that react to a draw, in one place.

The draw (``rounds.service``) knows nothing of notifications or the partner exchange; each
registers a hook that runs inside the draw's own transaction. Every entry point (the CLI,
the flows, the HTTP API, the demo, the tests) calls ``install()`` so the system behaves the
same whichever way a round is drawn.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_settings import BaseSettings

# the modules of the rooms' settings classes (every SHUANGSUI_* variable is one's field)
SETTINGS_MODULES = ("notifications.settings", "exchange.settings", "findings.settings",
                    "leads.schemas")  # fmt: skip


def install() -> None:
    """Idempotent."""
    from shuangsui import logsafe

    logsafe.install()  # no log line carries a token, whichever entry point runs
    for module in (
        "notifications.hooks",
        "notifications.readdress",  # the registry's import: an inspector's address corrected
        "exchange.hooks",
        "risk.hooks",
        "leads.hooks",
        "joint.hooks",
    ):
        try:
            hooks = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module.split(".")[0] and exc.name != module:
                raise
            continue
        hooks.install()


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of shuangsui: each one reading ``SHUANGSUI_…`` variables (a
    library's own, such as Prefect's ``Settings``, reads others)."""
    from pydantic_settings import BaseSettings

    for module in SETTINGS_MODULES:
        importlib.import_module(module)
    classes: list[type[BaseSettings]] = []
    found = [BaseSettings]
    while found:
        cls = found.pop()
        classes.append(cls)
        found.extend(cls.__subclasses__())
    return [
        c for c in classes if str(c.model_config.get("env_prefix", "")).startswith("SHUANGSUI_")
    ]


def setting_names() -> set[str]:
    """Every ``SHUANGSUI_*`` variable a settings class of shuangsui reads."""
    from shuangsui.config import setting_names_of

    return setting_names_of(settings_classes())


def read_settings() -> None:
    """Read every settings class once, so that a bad value of any stops a command before it
    opens (or makes, or migrates) the database: ``notifications dispatch`` made and migrated
    an empty SQLite database, then refused SHUANGSUI_NOTIFY_CONCURRENCY, when it came to read
    its own settings. Raises pydantic's ``ValidationError`` (the CLI says it in one line)."""
    from shuangsui.config import get_settings

    get_settings()
    for cls in settings_classes():
        cls()


def settings_said(exc: ValidationError) -> str | None:
    """A settings class's refusal in one line, each field by its variable (``settings:
    SHUANGSUI_SMTP_TIMEOUT: Input should be a finite number (allowed: ...; read: nan)``); None
    when ``exc`` is not a refusal of one of shuangsui's settings classes. A library's own
    settings class may have the same name (Prefect's ``Settings``, once Prefect is imported),
    and its prefix named our variable ``PREFECT_PUBLISH_DEADLINE_WORKING_DAYS``."""
    from shuangsui.config import bounds_said

    cls = next((c for c in settings_classes() if c.__name__ == exc.title), None)
    if cls is None:
        return None
    prefix = str(cls.model_config.get("env_prefix", ""))
    fields = "; ".join(
        (f"{prefix}{'_'.join(str(p) for p in e['loc']).upper()}: " if e["loc"] else "")
        + str(e["msg"]).removeprefix("Value error, ")
        + bounds_said(cls, e)
        for e in exc.errors()
    )
    return f"settings: {fields}"


def check_settings() -> None:
    """What a Prefect worker checks as it loads the flows, before any run's work: no
    ``SHUANGSUI_*`` variable that names no setting (:func:`check_environment`) and every
    setting's value (:func:`read_settings`), a refusal said in one line as the CLI says it
    (``UserError``): a worker checked the names only, and a bad value ran a flow until the
    code reading it was reached."""
    from pydantic import ValidationError

    from shuangsui.errors import UserError

    check_environment()
    try:
        read_settings()
    except ValidationError as exc:
        said = settings_said(exc)
        if said is None:
            raise
        raise UserError(said) from None


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse a ``SHUANGSUI_*`` variable that no setting reads (a misspelt name), before
    anything is done: the CLI's every command and a worker loading the flows."""
    from shuangsui.config import unknown_variables
    from shuangsui.errors import UserError

    if faults := unknown_variables(os.environ if environ is None else environ, setting_names()):
        raise UserError(f"settings: {'; '.join(faults)}")
