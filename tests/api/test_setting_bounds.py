"""Every integer setting read from the environment has an upper bound, and a value past it
stops ``shuangsui serve`` and the commands at start in one line naming the variable, what is
allowed and the value read. ``SHUANGSUI_NOTIFY_CONCURRENCY=99999999999999999999`` was taken:
``notifications dispatch`` built a thread per worker without end (it hung, an empty outbox
too), and ``serve`` started with it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from exchange.settings import ExchangeSettings
from findings.settings import FindingsSettings
from leads.schemas import LeadsSettings
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.cli import user_message
from shuangsui.config import Settings
from tests.deploy.procs import BIN, clean_env

HUGE = "99999999999999999999"
CLASSES: tuple[type[BaseSettings], ...] = (
    Settings, FindingsSettings, NotifySettings, SmtpSettings, ExchangeSettings, LeadsSettings,
)  # fmt: skip


def _int_settings(kind: type = int) -> list[tuple[type[BaseSettings], str]]:
    return [
        (cls, name)
        for cls in CLASSES
        for name, field in cls.model_fields.items()
        if field.annotation is kind
    ]


def _variable(cls: type[BaseSettings], name: str) -> str:
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def _most(cls: type[BaseSettings], name: str) -> int:
    bounds = [rule.le for rule in cls.model_fields[name].metadata if hasattr(rule, "le")]
    assert bounds, f"{_variable(cls, name)} has no upper bound"
    return int(bounds[0])


def _refused_past(
    monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings], name: str, step: float, *more: str
) -> None:
    """The setting takes its upper bound, and refuses ``step`` past it and each of ``more``,
    naming the variable, the range and the value read."""
    variable = _variable(cls, name)
    most = _most(cls, name)
    monkeypatch.setenv(variable, str(most))
    assert getattr(cls(), name) == most
    for value in (str(most + step), *more):
        monkeypatch.setenv(variable, value)
        with pytest.raises(ValidationError) as err:
            cls()
        said = user_message(err.value) or ""
        assert said.startswith(f"settings: {variable}: "), said
        assert f"at most {most}; read: {value})" in said, said


def test_the_integer_settings_are_the_ones_checked_here() -> None:
    """A new integer setting is checked by the next test too (this list says which there are:
    one added without a bound fails there)."""
    assert {_variable(c, n) for c, n in _int_settings()} >= {
        "SHUANGSUI_NOTIFY_CONCURRENCY", "SHUANGSUI_NOTIFY_BATCH_SIZE",
        "SHUANGSUI_NOTIFY_MAX_ATTEMPTS", "SHUANGSUI_NOTIFY_RECORD_BATCH",
        "SHUANGSUI_NOTIFY_HELPER_MIN_BACKLOG", "SHUANGSUI_TOKEN_GRACE_DAYS",
        "SHUANGSUI_REGISTRY_MAX_AGE_DAYS", "SHUANGSUI_PUBLISH_DEADLINE_WORKING_DAYS",
        "SHUANGSUI_API_MAX_BODY_BYTES", "SHUANGSUI_SERVE_MAX_CONNECTIONS",
        "SHUANGSUI_SERVE_KEEP_ALIVE_SECONDS", "SHUANGSUI_EVIDENCE_MAX_BYTES",
        "SHUANGSUI_DUE_SOON_WORKING_DAYS", "SHUANGSUI_CORRECTION_DEADLINE_WORKING_DAYS",
        "SHUANGSUI_EXCHANGE_CHECKPOINT_INTERVAL", "SHUANGSUI_EXCHANGE_SIGNATURE_MAX_AGE",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "name"), _int_settings(), ids=[_variable(c, n) for c, n in _int_settings()]
)
def test_each_integer_setting_is_bounded_naming_the_variable_range_and_value(
    monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings], name: str
) -> None:
    _refused_past(monkeypatch, cls, name, 1, HUGE)


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as a process, stopped after 60 s (before the bound: dispatch did not end)."""
    env = clean_env(PREFECT_HOME=str(tmp_path / "prefect-home"),
                    SHUANGSUI_HOME=str(tmp_path / "home"), **env)  # fmt: skip
    return subprocess.run([str(BIN / "shuangsui"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize(
    "args", [("notifications", "dispatch"), ("serve", "--port", "8479")], ids=["dispatch", "serve"]
)
def test_a_huge_notify_concurrency_stops_the_command_at_start(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc = _run(tmp_path, *args, SHUANGSUI_NOTIFY_CONCURRENCY=HUGE)
    assert proc.returncode == 2, proc.stderr
    errors = [x for x in proc.stderr.splitlines() if not x.startswith("warning: ")]
    assert errors == [
        "error: settings: SHUANGSUI_NOTIFY_CONCURRENCY: Input should be less than or equal to "
        f"1000 (allowed: at least 1 and at most 1000; read: {HUGE})"
    ], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_settings_error_names_our_variable_beside_a_librarys_class_of_the_same_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A library's settings class named as ours (Prefect's ``Settings``, once Prefect is
    imported, as every flow and the test harness import it) was taken for ours when it came
    first among ``BaseSettings``'s subclasses, and the refusal named
    ``PREFECT_PUBLISH_DEADLINE_WORKING_DAYS``: the variable is ours, ``SHUANGSUI_…``."""
    import gc

    from shuangsui import config

    class Settings(BaseSettings):  # a library's, defined after ours: looked at first
        model_config = {"env_prefix": "OTHER_"}
        publish_deadline_working_days: int = 1

    monkeypatch.setenv("SHUANGSUI_PUBLISH_DEADLINE_WORKING_DAYS", "251")
    try:
        with pytest.raises(ValidationError) as err:
            config.Settings()
        said = user_message(err.value) or ""
        assert said.startswith("settings: SHUANGSUI_PUBLISH_DEADLINE_WORKING_DAYS: "), said
    finally:
        del Settings
        gc.collect()  # the class leaves BaseSettings.__subclasses__()


def _float_settings() -> list[tuple[type[BaseSettings], str]]:
    return _int_settings(float)


def test_the_number_settings_are_the_ones_checked_here() -> None:
    assert {_variable(c, n) for c, n in _float_settings()} >= {
        "SHUANGSUI_FRAME_CHANGE_LIMIT", "SHUANGSUI_SERVE_HEADER_TIMEOUT_SECONDS",
        "SHUANGSUI_SERVE_BODY_TIMEOUT_SECONDS", "SHUANGSUI_SMTP_TIMEOUT",
        "SHUANGSUI_NOTIFY_WEBHOOK_TIMEOUT", "SHUANGSUI_NOTIFY_BACKOFF_BASE_SECONDS",
        "SHUANGSUI_NOTIFY_BACKOFF_MAX_SECONDS", "SHUANGSUI_NOTIFY_LEASE_SECONDS",
        "SHUANGSUI_NOTIFY_OUTAGE_BACKOFF_BASE_SECONDS",
        "SHUANGSUI_NOTIFY_OUTAGE_BACKOFF_MAX_SECONDS", "SHUANGSUI_NOTIFY_OUTAGE_GIVE_UP_SECONDS",
        "SHUANGSUI_EXCHANGE_TIMEOUT",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "name"), _float_settings(), ids=[_variable(c, n) for c, n in _float_settings()]
)
def test_each_number_setting_is_finite_and_bounded_naming_the_variable_range_and_value(
    monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings], name: str
) -> None:
    """A timeout, back-off or lease of 1e308 or inf seconds was taken (``dispatch`` ended in
    OverflowError's traceback with a lease of 1e308), and nan was refused as not "greater
    than 0" without saying what was read."""
    _refused_past(monkeypatch, cls, name, 0.5, "1e308", "inf", "-inf", "nan", "Infinity")
