"""A setting naming a file or folder is checked as it is read, as a number setting is
(tests/api/test_setting_bounds.py), before any command opens the database: a file named as
SHUANGSUI_NOTIFY_TEMPLATE_DIR (or a folder that does not exist) was taken and the bureau's
edited notices went out as shuangsui's own in silence; a folder or a FIFO named as
SHUANGSUI_SMTP_CA_FILE was taken and every message failed at its send (or the sender hung); a
file named as SHUANGSUI_PLANS_DIR was taken and every draw said the folder "does not exist".
A beacon lead that is no duration (``inf``) was refused without the range. And a Prefect
worker, which loads the flows without the CLI, checked the variables' names only: a bad value
ran a flow until the code reading it was reached."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deploy.procs import import_flows, shuangsui

TEMPLATES = "the bureau's edited templates are a folder (zh/*.txt.j2, en/*.txt.j2)"
CA = "write the PEM file of the CA that signed the server's certificate, or leave it empty"
PLANS = "the draw plans are YAML files in a folder"
LEAD = "must be between 0 and 24 hours"


def _places(tmp_path: Path) -> dict[str, Path]:
    (a_file := tmp_path / "a-file.txt").write_text("not a folder\n", encoding="utf-8")
    os.mkfifo(fifo := tmp_path / "a-fifo")
    (folder := tmp_path / "a-folder").mkdir()
    return {"file": a_file, "fifo": fifo, "folder": folder, "missing": tmp_path / "missing"}


@pytest.mark.parametrize(
    ("variable", "place", "said"),
    [
        ("SHUANGSUI_NOTIFY_TEMPLATE_DIR", "file",
         f"a-file.txt is a file, not a folder: {TEMPLATES}"),
        ("SHUANGSUI_NOTIFY_TEMPLATE_DIR", "fifo", "a-fifo is a file, not a folder"),
        ("SHUANGSUI_NOTIFY_TEMPLATE_DIR", "missing", f"missing does not exist: {TEMPLATES}"),
        ("SHUANGSUI_SMTP_CA_FILE", "folder", f"a-folder is a folder, not a file: {CA}"),
        ("SHUANGSUI_SMTP_CA_FILE", "fifo", "a-fifo is not a regular file (a pipe or a device)"),
        ("SHUANGSUI_SMTP_CA_FILE", "missing", f"missing does not exist: {CA}"),
        ("SHUANGSUI_PLANS_DIR", "file", f"a-file.txt is a file, not a folder: {PLANS}"),
    ],
)  # fmt: skip
def test_a_path_setting_that_cannot_serve_is_refused_before_anything(
    tmp_path: Path, variable: str, place: str, said: str
) -> None:
    path = _places(tmp_path)[place]
    proc = shuangsui(tmp_path, "round", "list", **{variable: str(path)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: settings: {variable}: {path.parent}/"), proc.stderr
    assert said in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not (tmp_path / ".shuangsui").exists()  # refused before the database was made


def test_a_path_setting_that_serves_is_taken(tmp_path: Path) -> None:
    """A templates folder, a CA file, and a plans folder not made yet (a bureau before its
    first plan: commands that read none still run)."""
    places = _places(tmp_path)
    proc = shuangsui(
        tmp_path, "round", "list",
        SHUANGSUI_NOTIFY_TEMPLATE_DIR=str(places["folder"]),
        SHUANGSUI_SMTP_CA_FILE=str(places["file"]),
        SHUANGSUI_PLANS_DIR=str(places["missing"]),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("lead", ["inf", "1e400", "-inf", "nan", "fifteen minutes"])
def test_a_beacon_lead_that_is_no_duration_is_refused_with_the_range(
    tmp_path: Path, lead: str
) -> None:
    proc = shuangsui(tmp_path, "round", "list", SHUANGSUI_BEACON_LEAD=lead)
    assert proc.returncode == 2, proc.stderr
    said = f"error: settings: SHUANGSUI_BEACON_LEAD: not a duration; {LEAD}"
    assert proc.stderr.startswith(said) and "PT15M or 900 (seconds)" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("SHUANGSUI_NOTIFY_LEASE_SECONDS", "nan", "SHUANGSUI_NOTIFY_LEASE_SECONDS: Input should "
         "be a finite number (allowed: at least 1.0 and at most 2592000; read: nan)"),
        ("SHUANGSUI_BEACON_LEAD", "inf", f"SHUANGSUI_BEACON_LEAD: not a duration; {LEAD}"),
        ("SHUANGSUI_PLANS_DIR", "file", f"is a file, not a folder: {PLANS}"),
    ],
)  # fmt: skip
def test_a_worker_loading_the_flows_refuses_a_bad_value(
    tmp_path: Path, variable: str, value: str, said: str
) -> None:
    """A Prefect worker imports the ``flows`` package before any flow of a run."""
    if value == "file":
        value = str(_places(tmp_path)["file"])
    proc = import_flows(tmp_path, **{variable: value})
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("shuangsui.errors.UserError: settings: ") and said in last, last
    assert not (tmp_path / "home").exists()
