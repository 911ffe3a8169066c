"""The one settings object: defaults, environment, refusal of placeholder secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shuangsui.config import Settings, scrub_url


def test_defaults_are_fujian_and_sqlite_under_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SHUANGSUI_HOME")
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.bureau_code == "350000"
    assert settings.home == Path(".shuangsui")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / '.shuangsui' / 'shuangsui.db'}"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUANGSUI_BUREAU_CODE", "310000")
    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", "postgresql+psycopg://u:pw@127.0.0.1/db")
    settings = Settings()
    assert settings.bureau_code == "310000"
    assert "pw" not in settings.database_url_for_logs
    assert settings.database_url_for_logs == "postgresql+psycopg://u:***@127.0.0.1/db"


def test_bad_bureau_code_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUANGSUI_BUREAU_CODE", "35")
    with pytest.raises(ValidationError, match="bureau_code"):
        Settings()


def test_production_refuses_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="SHUANGSUI_SECRET_KEY is a placeholder"):
        Settings()
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", "a-real-long-random-secret-value")
    assert Settings().environment == "production"


def test_scrub_url_keeps_urls_without_password() -> None:
    assert scrub_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
