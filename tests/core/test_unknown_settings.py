"""A ``SHUANGSUI_*`` variable that names no setting is refused before anything is done, naming
it and the setting it is nearest: ``SHUANGSUI_ENVIRONMNET=production`` was ignored in silence,
so a production worker ran as ``development`` (the placeholder secret key accepted, notices to
the file outbox), and ``SHUANGSUI_DATABSE_URL`` left the bureau on a new empty SQLite
database. Checked by every ``shuangsui`` command and by a worker as it loads the flows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shuangsui import wiring
from shuangsui.config import NOT_SETTINGS, NOT_SETTINGS_PREFIXES
from tests.deploy.procs import REPO_ROOT, import_flows, shuangsui

_run = shuangsui  # the command as a user types it (tests.deploy.procs)


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("SHUANGSUI_ENVIRONMNET", "SHUANGSUI_ENVIRONMNET is not a setting of shuangsui "
         "(did you mean SHUANGSUI_ENVIRONMENT?)"),
        ("shuangsui_databse_url", "shuangsui_databse_url is not a setting of shuangsui "
         "(did you mean SHUANGSUI_DATABASE_URL?)"),
        ("SHUANGSUI_SMTP_PASWORD", "SHUANGSUI_SMTP_PASWORD is not a setting of shuangsui "
         "(did you mean SHUANGSUI_SMTP_PASSWORD?)"),
        ("SHUANGSUI_NOTIFY_CONCURENCY", "(did you mean SHUANGSUI_NOTIFY_CONCURRENCY?)"),
        ("SHUANGSUI_TOKEN_GRACE", "(did you mean SHUANGSUI_TOKEN_GRACE_DAYS?)"),
        ("SHUANGSUI_COLOUR", "SHUANGSUI_COLOUR is not a setting of shuangsui; none is named "
         "near it"),
    ],
)  # fmt: skip
def test_a_variable_that_is_no_setting_is_refused_naming_it(
    tmp_path: Path, name: str, said: str
) -> None:
    proc = _run(tmp_path, "round", "list", **{name: "production"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: settings: ") and said in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / ".shuangsui").exists()  # refused before anything was done


def test_the_suites_and_the_deployments_own_variables_are_not_refused(tmp_path: Path) -> None:
    proc = _run(
        tmp_path,
        "round",
        "list",
        SHUANGSUI_REPO_DIR=str(REPO_ROOT),  # prefect.yaml's
        SHUANGSUI_TEST_POSTGRES_URL="postgresql+psycopg://u@127.0.0.1/x",
        SHUANGSUI_REQUIRE_POSTGRES="1",
        SHUANGSUI_BENCH_POSTGRES_URL="postgresql+psycopg://u@127.0.0.1/x",
        SHUANGSUI_NOTIFY_TEMPLATE_DIR=str(tmp_path),  # settings of the rooms, not the kernel
        SHUANGSUI_SMTP_SECURITY="starttls",
        SHUANGSUI_EXCHANGE_PAGE_SIZE="500",
        SHUANGSUI_LEADS_DEADLINE_DAYS="30",
        SHUANGSUI_EVIDENCE_MAX_BYTES="1000000",
    )
    assert proc.returncode == 0, proc.stderr


def test_a_worker_loading_the_flows_refuses_it(tmp_path: Path) -> None:
    """A Prefect worker imports the ``flows`` package before any flow of a run."""
    proc = import_flows(tmp_path, SHUANGSUI_ENVIRONMNET="production")
    assert proc.returncode != 0
    assert "SHUANGSUI_ENVIRONMNET is not a setting of shuangsui" in proc.stderr, proc.stderr


# the misspellings the docs quote as what is refused
MISSPELT = {"SHUANGSUI_ENVIRONMNET", "SHUANGSUI_DATABSE_URL", "SHUANGSUI_SMTP_PASWORD"}


def test_every_variable_the_docs_name_is_a_setting() -> None:
    """What the README and docs tell an operator to set is what the check knows."""
    known = wiring.setting_names()
    texts = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    named = {
        name
        for path in texts
        for name in re.findall(r"SHUANGSUI_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))
    }
    unknown = {
        name
        for name in named - MISSPELT
        if name not in known
        and name not in NOT_SETTINGS
        and not f"{name}_".startswith(NOT_SETTINGS_PREFIXES)
        and not any(k.startswith(name + "_") for k in known)  # a prefix: SHUANGSUI_NOTIFY
    }
    assert not unknown, unknown
