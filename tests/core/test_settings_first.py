"""Every command reads every setting, and refuses a bad one, before it opens the database: a
refused setting leaves no database behind. ``notifications dispatch`` made and migrated an
empty SQLite database in the data directory (or migrated an empty PostgreSQL one), and only
then, reading its own settings, refused ``SHUANGSUI_NOTIFY_LEASE_SECONDS=1e308`` (in an
OverflowError's traceback); so did every command whose settings are read after the database
is opened (``serve``: the exchange's and the notices' settings)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.core.test_serve_address import _untouched, empty_url  # noqa: F401 (a fixture)
from tests.deploy.procs import BIN, clean_env

# one command of each family, with what it needs to get as far as its database
COMMANDS = {
    "registry": ("registry", "stats"),
    "round": ("round", "list"),
    "notifications": ("notifications", "dispatch"),
    "partners": ("partners", "sync"),
    "leads": ("leads", "list"),
    "joint": ("joint", "status"),
    "findings": ("findings", "deadlines"),
    "risk": ("risk", "classify", "--as-of", "2026-11-30"),
    "tokens": ("tokens", "list-revoked"),
    "publish": ("publish", "--out", "site"),
    "serve": ("serve", "--port", "8481"),
    "db": ("db", "migrate"),
}
# a bad value of a setting of each room's settings class (none of them the database's own)
BAD = {
    "SHUANGSUI_NOTIFY_LEASE_SECONDS": "1e308",
    "SHUANGSUI_SMTP_TIMEOUT": "nan",
    "SHUANGSUI_EXCHANGE_TIMEOUT": "inf",
    "SHUANGSUI_EVIDENCE_MAX_BYTES": "0",
    "SHUANGSUI_LEADS_DEADLINE_DAYS": "99999",
}


@pytest.mark.parametrize("family", sorted(COMMANDS))
def test_a_bad_setting_stops_a_command_before_its_database(
    tmp_path: Path,
    empty_url: str,  # noqa: F811
    family: str,
) -> None:
    variable, value = sorted(BAD.items())[sorted(COMMANDS).index(family) % len(BAD)]
    home = tmp_path / "home"
    env = clean_env(PREFECT_HOME=str(tmp_path / "prefect-home"), SHUANGSUI_HOME=str(home),
                    SHUANGSUI_DATABASE_URL=empty_url, **{variable: value})  # fmt: skip
    proc = subprocess.run([str(BIN / "shuangsui"), *COMMANDS[family]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr  # one line, no warning
    assert proc.stderr.startswith(f"error: settings: {variable}: "), proc.stderr
    assert f"read: {value})" in proc.stderr, proc.stderr
    assert not home.exists() and _untouched(empty_url)
