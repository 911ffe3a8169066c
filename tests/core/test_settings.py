"""The one settings object: defaults, environment, refusal of weak secrets and of an SMTP
password sent in clear in production."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from exchange.settings import ExchangeSettings
from findings.settings import FindingsSettings
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui import config
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


@pytest.mark.parametrize("code", ["35", "３５００００", "350000\n"])  # full-width digits too
def test_bad_bureau_code_names_the_field(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setenv("SHUANGSUI_BUREAU_CODE", code)
    with pytest.raises(ValidationError, match="bureau_code"):
        Settings()


STRONG = "k7Qm_2vXo9LrT4pWz8NcY1bHs6JdE3fG-uA5"  # 36 characters, four kinds
PUBLIC = "https://shuangsui.example.gov.cn"  # where inspectors reach serve


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("", "is 0 characters long"),
        ("x", "is 1 characters long"),
        ("CHANGETHIS", "is a placeholder"),
        ("changeme", "is a placeholder"),
        ("password", "is a placeholder"),
        ("dev-secret", "is a placeholder"),
        ("ChangeThis-ChangeThis-ChangeThis-2026!", "is a placeholder"),
        ("PASSWORD-0123456789-abcdefghij-XYZ", "is a placeholder"),
        ("a-real-long-random-secret-value-0123456789", "is a placeholder"),
        ("Tr0ub4dor&3-short", "is 17 characters long"),
        ("Aa1!" * 10, "repeats too few distinct characters"),
        ("correcthorsebatterystaplecorrecthorse", "mixes too few kinds"),
        ("0123456789" * 4, "mixes too few kinds"),
    ],
)
def test_production_refuses_weak_secrets(
    monkeypatch: pytest.MonkeyPatch, secret: str, reason: str
) -> None:
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "production")
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", secret)
    with pytest.raises(ValidationError) as info:
        Settings()
    message = str(info.value)
    assert f"SHUANGSUI_SECRET_KEY {reason}" in message
    assert 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"' in message
    if len(secret) > 8:
        assert secret not in message, "the error must not echo the secret"


def test_production_default_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="SHUANGSUI_SECRET_KEY is a placeholder"):
        Settings()


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_urlsafe(48),
        lambda: secrets.token_urlsafe(24),
        lambda: secrets.token_hex(32),
        lambda: secrets.token_hex(16),
        lambda: STRONG,
    ],
)
def test_production_accepts_strong_secrets(monkeypatch: pytest.MonkeyPatch, make) -> None:
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "production")
    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", PUBLIC)
    for _ in range(50):
        monkeypatch.setenv("SHUANGSUI_SECRET_KEY", make())
        assert Settings().environment == "production"


def test_weak_secrets_are_fine_outside_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", "x")
    for environment in ("development", "test"):
        monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", environment)
        assert Settings().secret_key.get_secret_value() == "x"


@pytest.mark.parametrize(
    "password_env",
    [{"SHUANGSUI_SMTP_PASSWORD": "mail-pass"}, {"SHUANGSUI_SMTP_PASSWORD_BLOCK": "smtp-pass"}],
)
def test_production_refuses_an_smtp_password_over_plain(
    monkeypatch: pytest.MonkeyPatch, password_env: dict[str, str]
) -> None:
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "production")
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", STRONG)
    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("SHUANGSUI_SMTP_USERNAME", "shuangsui")
    for name, value in password_env.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    with pytest.raises(ValidationError, match="SHUANGSUI_SMTP_SECURITY is plain") as info:
        SmtpSettings()  # the default security is plain
    assert "mail-pass" not in str(info.value)
    for security in ("starttls", "ssl"):
        monkeypatch.setenv("SHUANGSUI_SMTP_SECURITY", security)
        assert SmtpSettings().security == security
    # a relay without a password may stay plain; outside production nothing is refused
    monkeypatch.setenv("SHUANGSUI_SMTP_SECURITY", "plain")
    for name in password_env:
        monkeypatch.delenv(name)
    assert SmtpSettings().security == "plain"
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "test")
    config.get_settings.cache_clear()
    assert SmtpSettings(password="mail-pass").security == "plain"


def test_scrub_url_keeps_urls_without_password() -> None:
    assert scrub_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u@127.0.0.1/db?password=S3cr3t&sslmode=require",
         "postgresql+psycopg://u@127.0.0.1/db?password=***&sslmode=require"),
        ("postgresql+psycopg:///db?host=h&user=u&sslpassword=S3cr3t",
         "postgresql+psycopg:///db?host=h&user=u&sslpassword=***"),
        ("postgresql+psycopg://u:S3cr3t@h/db?options=-c%20TimeZone%3DAsia%2FShanghai",
         "postgresql+psycopg://u:***@h/db?options=-c+TimeZone%3DAsia%2FShanghai"),
    ],
)  # fmt: skip
def test_scrub_url_hides_a_password_given_in_the_query(url: str, shown: str) -> None:
    """libpq reads ``?password=``; ``shuangsui db migrate`` printed it as it was."""
    assert scrub_url(url) == shown
    assert "S3cr3t" not in scrub_url(url)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("example.gov.cn", "needs http:// or https://"),
        ("ftp://example.gov.cn", "needs http:// or https://"),
        ("https://", "names no host"),
        ("https://example.gov.cn:99999", "cannot be read"),
        ("https://example.gov.cn:0", "port 0"),
        ("https://admin:pw@example.gov.cn", "user name or password"),
        ("https://example.gov.cn/?from=mail", "query"),
        ("https://example.gov.cn/#w", "fragment"),
        ("https://example.gov.cn/shuangsui", "must not hold a path"),
        (" https://example.gov.cn", "holds a space"),
    ],
)
def test_the_servers_address_is_refused_naming_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    """``SHUANGSUI_PUBLIC_BASE_URL`` was never read before a link was made of it: without its
    scheme every inspector's link said ``example.gov.cn/w/open/…``, and every workspace form
    was refused as coming from another site (its origin could not be read)."""
    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", url)
    with pytest.raises(ValidationError, match="public_base_url") as err:
        Settings()
    assert said in str(err.value)
    assert "pw" not in str(err.value).replace("https://shuangsui", "")  # the value not quoted


@pytest.mark.parametrize(
    "url", ["https://shuangsui.example.gov.cn", "HTTP://127.0.0.1:8350/", "http://[::1]:8350"]
)
def test_the_servers_address_may_be_any_http_origin(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", url)
    assert Settings().public_base_url == url


def test_the_sites_address_may_hold_a_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUANGSUI_SITE_BASE_URL", "https://www.example.gov.cn/sjs/")
    assert Settings().site_base_url == "https://www.example.gov.cn/sjs/"
    monkeypatch.setenv("SHUANGSUI_SITE_BASE_URL", "www.example.gov.cn/sjs/")
    with pytest.raises(ValidationError, match="site_base_url"):
        Settings()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://admin:pw@exchange.example.gov.cn", "user name or password"),
        ("https://exchange.example.gov.cn:0", "port 0"),
        ("https://:8350", "names no host"),
        ("exchange.example.gov.cn", "needs http:// or https://"),
        ("https://exchange.example.gov.cn/feed?k=1", "query"),
    ],
)
def test_the_feeds_address_is_refused_naming_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    """``SHUANGSUI_EXCHANGE_PUBLIC_URL`` (what partners sign for) is checked as the server's
    address is, a path allowed: its pattern took a user name and password, a port 0 and an
    address with no host; the value is never quoted."""
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PUBLIC_URL", url)
    with pytest.raises(ValidationError, match="exchange_public_url") as err:
        ExchangeSettings()
    assert said in str(err.value) and "pw@" not in str(err.value)


@pytest.mark.parametrize(
    "url", ["https://Exchange.FJ.example:443/", "https://proxy.example.gov.cn/shuangsui", ""]
)
def test_the_feeds_address_may_hold_a_path(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PUBLIC_URL", url)
    assert ExchangeSettings().exchange_public_url == url


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://u:S3cr3t@db/shuangsui", "mysql is not a database shuangsui runs on"),
        ("postgres://u:S3cr3t@db/shuangsui", "postgres:// is not one shuangsui connects with"),
        ("postgresql+psycopg2://u:S3cr3t@db/x", "postgresql+psycopg2:// is not one"),
        ("S3cr3t", "is not a database URL"),
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
    ],
)
def test_a_database_url_it_cannot_use_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    """Each of these ended a command in SQLAlchemy's or the import system's traceback
    (``NoSuchModuleError``, ``No module named 'MySQLdb'``), or, in memory, in ``no such
    table``; the value is never quoted (it holds the password)."""
    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", url)
    with pytest.raises(ValidationError, match="database_url") as err:
        Settings()
    assert said in str(err.value) and "S3cr3t" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "value", "read", "said"),
    [
        ("SHUANGSUI_TIMEZONE", "Asia/Shangai", Settings, "not a time zone"),
        ("SHUANGSUI_TIMEZONE", "../../etc/passwd", Settings, "not a time zone"),
        ("SHUANGSUI_PUBLISH_DEADLINE_WORKING_DAYS", "0", Settings, "greater than or equal to 1"),
        ("SHUANGSUI_EXTRA_HOLIDAYS", "2027-01-01,2026-13-01", FindingsSettings,
         "'2026-13-01' is not a day"),
        ("SHUANGSUI_EXTRA_WORKDAYS", "2027-02-10..2027-02-01", FindingsSettings,
         "ends before it begins"),
        ("SHUANGSUI_EVIDENCE_MAX_BYTES", "0", FindingsSettings, "greater than or equal to 1"),
        ("SHUANGSUI_CORRECTION_DEADLINE_WORKING_DAYS", "0", FindingsSettings, "greater than"),
        ("SHUANGSUI_NOTIFY_BATCH_SIZE", "0", NotifySettings, "greater than or equal to 1"),
        ("SHUANGSUI_NOTIFY_CONCURRENCY", "-3", NotifySettings, "greater than or equal to 1"),
        ("SHUANGSUI_NOTIFY_MAX_ATTEMPTS", "0", NotifySettings, "greater than or equal to 1"),
        ("SHUANGSUI_NOTIFY_WEBHOOK_TIMEOUT", "0", NotifySettings, "greater than 0"),
        ("SHUANGSUI_SMTP_PORT", "99999", SmtpSettings, "less than or equal to 65535"),
    ],
)  # fmt: skip
def test_a_setting_that_cannot_work_is_refused_when_read(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read: type, said: str
) -> None:
    """Each was taken: a misspelt zone ended a publish in ``ZoneInfoNotFoundError``'s
    traceback, a mistyped holiday the deadlines page (a 500) and every 延期, and a batch of 0
    or no workers left every message unsent without a word."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("SHUANGSUI_").lower()
                       .removeprefix("notify_").removeprefix("smtp_")) as err:  # fmt: skip
        read()
    assert said in str(err.value)


@pytest.mark.parametrize(
    ("address", "said"),
    [
        (None, "names 127.0.0.1, the default, this machine itself"),
        ("http://127.0.0.1:8350", "names 127.0.0.1, this machine itself"),
        ("http://127.8.0.1", "names 127.8.0.1, this machine itself"),
        ("http://localhost:8350", "names localhost, this machine itself"),
        ("http://LOCALHOST", "names localhost, this machine itself"),
        ("http://[::1]:8350", "names ::1, this machine itself"),
    ],
)
def test_production_refuses_links_to_this_machine(
    monkeypatch: pytest.MonkeyPatch, address: str | None, said: str
) -> None:
    """Inspectors open the notices' links on their phones: unset in production, a round's
    notices went out with links to http://127.0.0.1:8350, and nothing said so."""
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "production")
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", STRONG)
    if address is not None:
        monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", address)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert f"SHUANGSUI_PUBLIC_BASE_URL {said}; in production" in str(info.value)
    assert "https://shuangsui.example.gov.cn" in str(info.value)


@pytest.mark.parametrize("address", [PUBLIC, "http://10.2.3.4:8350", "https://127.example.cn"])
def test_production_takes_links_inspectors_reach(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "production")
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", STRONG)
    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", address)
    assert Settings().public_base_url == address
    for environment in ("development", "test"):  # the default, on this machine, elsewhere
        monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", environment)
        monkeypatch.delenv("SHUANGSUI_PUBLIC_BASE_URL")
        assert Settings().public_base_url == "http://127.0.0.1:8350"
        monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", address)
