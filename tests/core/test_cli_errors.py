"""The command line's answers to bad input: one line on stderr, ``error: ...`` naming what to
fix, a non-zero exit and no traceback; a warning when a command made a new empty database;
Prefect's telemetry off unless the user set it."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from shuangsui import cli
from tests.deploy.procs import REPO_ROOT, shuangsui

PLAN = "plans/2026-12/rz-01-ccc.yaml"


_run = shuangsui  # the command as a user types it (tests.deploy.procs)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "plans", tmp_path / "plans")
    (tmp_path / "not-a-workbook.xlsx").write_text("credit_code,name\n", encoding="utf-8")
    (tmp_path / "findings.csv").write_text("轮次,统一社会信用代码,检查结果,检查日期,签字人员\n")
    (tmp_path / "leads.csv").write_text("来源,统一社会信用代码,线索类别,收到日期\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (("round", "adhoc", "--plan", PLAN, "--reason", "x", "--requested-by", "y",
          "--rate", "D=50"), {}, "error: --rate D=50: rate '50' must be a percentage"),
        (("round", "adhoc", "--plan", PLAN, "--reason", "x", "--requested-by", "y",
          "--rate", "D50%"), {}, "error: --rate D50%: expected CLASS=RATE"),
        (("round", "list",), {"SHUANGSUI_BUREAU_CODE": "35"},
         "error: settings: SHUANGSUI_BUREAU_CODE: String should match pattern"),
        (("notifications", "dispatch"), {"SHUANGSUI_NOTIFY_LEASE_SECONDS": "0.1"},
         "error: settings: SHUANGSUI_NOTIFY_LEASE_SECONDS: Input should be greater than"),
        (("registry", "import", "enterprises", "missing.csv"), {}, "error: missing.csv"),
        (("round", "commit", "plans/nowhere.yaml"), {}, "error: "),
        (("registry", "import", "enterprises", "not-a-workbook.xlsx"), {},
         "error: not-a-workbook.xlsx: not an XLSX workbook (File is not a zip file); save it as"),
        (("findings", "import", "not-a-workbook.xlsx"), {},
         "error: not-a-workbook.xlsx: not an XLSX workbook (File is not a zip file); save it as"),
        (("findings", "import", "findings.csv"), {},
         "error: findings.csv: no data rows below the header"),
        (("leads", "import", "leads.csv"), {}, "error: leads.csv: no data rows below the header"),
        (("publish", "--out", "leads.csv"), {}, "error: --out leads.csv: is a file, not a folder"),
        (("round", "list"), {"SHUANGSUI_DATABASE_URL": "postgres://u:pw@127.0.0.1/db"},
         "error: settings: SHUANGSUI_DATABASE_URL: postgres:// is not one shuangsui connects"),
        (("serve",), {"SHUANGSUI_PUBLIC_BASE_URL": "shuangsui.example.gov.cn"},
         "error: settings: SHUANGSUI_PUBLIC_BASE_URL: needs http:// or https:// before the host"),
        (("serve",), {"SHUANGSUI_EXTRA_HOLIDAYS": "2027-01-01,2026-13-01"},
         "error: settings: SHUANGSUI_EXTRA_HOLIDAYS: '2026-13-01' is not a day (YYYY-MM-DD)"),
        (("publish", "--out", "site"), {"SHUANGSUI_TIMEZONE": "Asia/Shangai"},
         "error: settings: SHUANGSUI_TIMEZONE: not a time zone of the IANA database"),
        (("registry", "export", "bogus", "--out", "x.csv"), {}, "error: unknown kind 'bogus'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(
    folder: Path, args: tuple[str, ...], env: dict[str, str], line: str
) -> None:
    proc = _run(folder, *args, **env)
    assert proc.returncode == 2, proc.stderr
    errors = [x for x in proc.stderr.splitlines() if not x.startswith("warning: ")]
    assert len(errors) == 1 and errors[0].startswith(line), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_plan_not_saved_as_utf8_is_one_line(folder: Path) -> None:
    """A plan saved as GBK stopped `round check` and `round commit` with a traceback
    (``UnicodeDecodeError``)."""
    plan = folder / "plans" / "2026-12" / "gbk.yaml"
    text = (folder / PLAN).read_text(encoding="utf-8").replace("rz-01-2026-12", "gbk-2026-12")
    plan.write_bytes(text.encode("gbk"))
    where = re.escape(str(plan.resolve()))
    line = rf"error: {where}: not UTF-8 text \(byte 0x[0-9a-f]{{2}} at offset \d+\); save the "
    line += "plan as UTF-8"
    for command in ("check", "commit"):
        proc = _run(folder, "round", command, "plans/2026-12/gbk.yaml")
        assert proc.returncode == 2, proc.stderr
        errors = [x for x in proc.stderr.splitlines() if not x.startswith("warning: ")]
        assert len(errors) == 1 and re.fullmatch(line, errors[0]), proc.stderr


def test_a_port_out_of_range_is_refused_as_the_arguments_are_read(folder: Path) -> None:
    """It was an ``OverflowError`` traceback once the server had started."""
    for port in ("65536", "99999"):
        proc = _run(folder, "serve", "--port", port)
        assert proc.returncode == 2, proc.stderr
        assert "Invalid value for '--port'" in proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    "args",
    [("publish", "--out", "leads.csv"), ("registry", "export", "bogus", "--out", "x.csv"),
     ("registry", "import", "bogus", "leads.csv")],
)  # fmt: skip
def test_a_refused_argument_makes_no_database(folder: Path, args: tuple[str, ...]) -> None:
    """A file given as the site's folder, or an unknown kind, was refused only after the new
    empty database had been made (and named in a warning)."""
    proc = _run(folder, *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not (folder / ".shuangsui").exists()


def test_a_new_empty_database_is_named(folder: Path) -> None:
    proc = _run(folder, "round", "list")
    assert proc.returncode == 0, proc.stderr
    db = (folder / ".shuangsui" / "shuangsui.db").resolve()
    empty, warning = proc.stderr.splitlines()  # the listing's own line, then the warning
    assert empty.startswith("no rounds yet") and warning.startswith(
        f"warning: new empty database {db}"
    ), proc.stderr
    assert "SHUANGSUI_HOME is unset" in warning
    again = _run(folder, "round", "list")  # the database exists now: no warning
    assert again.returncode == 0 and "warning" not in again.stderr, again.stderr


@pytest.mark.parametrize(("url", "relative"), [("sqlite:///data/x.db", True), ("", False)])
def test_a_new_empty_database_named_by_the_url_is_named(
    folder: Path, url: str, relative: bool
) -> None:
    """A database URL with three slashes where four were meant (``sqlite:///var/lib/…``, a path
    read from the working directory) made a new empty database there in silence: every round
    and registry seemed gone."""
    url = url or f"sqlite:///{folder / 'elsewhere' / 'x.db'}"
    proc = _run(folder, "round", "list", SHUANGSUI_DATABASE_URL=url)
    assert proc.returncode == 0, proc.stderr
    made = (folder / "data" / "x.db") if relative else (folder / "elsewhere" / "x.db")
    line = f"warning: new empty database {made.resolve()}, named by SHUANGSUI_DATABASE_URL"
    empty, warning = proc.stderr.splitlines()  # the listing's own line, then the warning
    assert empty.startswith("no rounds yet") and warning.startswith(line), proc.stderr
    assert ("four slashes" in proc.stderr) is relative
    again = _run(folder, "round", "list", SHUANGSUI_DATABASE_URL=url)
    assert again.returncode == 0 and "warning" not in again.stderr, again.stderr


def test_a_database_that_cannot_be_reached_is_one_line_without_its_password(
    folder: Path,
) -> None:
    """A server down (or a wrong password, a read-only data directory) stopped every command
    with SQLAlchemy's traceback; now the database, its password hidden, and the driver's
    words."""
    url = "postgresql+psycopg://u:S3cr3t@127.0.0.1:1/db"
    proc = _run(folder, "round", "list", SHUANGSUI_DATABASE_URL=url)
    assert proc.returncode == 2, proc.stderr
    line = "error: database postgresql+psycopg://u:***@127.0.0.1:1/db: connection failed: "
    assert proc.stderr.startswith(line) and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "S3cr3t" not in proc.stderr + proc.stdout


def test_an_altered_audit_log_is_one_line_naming_the_event(folder: Path) -> None:
    """What ``round audit`` finds is its answer, not a traceback: which event, exit 1 (a
    check that failed, as a bundle's verify.py says it)."""
    made = _run(folder, "tokens", "create-coordinator", "林科长")
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(folder / ".shuangsui" / "shuangsui.db") as conn:
        conn.execute("UPDATE audit_event SET payload = replace(payload, '林科长', '陈明')")
    proc = _run(folder, "round", "audit")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "error: audit log: event 1 (CoordinatorTokenIssued) was altered\n"


def test_unexpected_errors_keep_their_traceback() -> None:
    assert cli.user_message(RuntimeError("a bug")) is None
    assert cli.user_message(ValueError("a bug")) is None
    assert cli.user_message(FileNotFoundError(2, "No such file", "x.csv")) == "x.csv: No such file"


def test_prefect_telemetry_is_off_unless_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    cli.prefect_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    cli.prefect_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"


def test_temporary_prefect_server_gets_time_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    monkeypatch.delenv(name, raising=False)
    cli.prefect_defaults()
    assert os.environ[name] == "180"
    monkeypatch.setenv(name, "30")
    cli.prefect_defaults()
    assert os.environ[name] == "30"
