"""``shuangsui registry import all DIR`` reads one file of each kind, and says what it does not
read. A folder holding ``check-items.csv`` and ``check-items.xlsx`` had both imported in turn
(the second's values over the first's); a FIFO or a folder named ``enterprises.csv`` was passed
over in silence and the rest imported, exit 0; a registry file under another name
(``inspector.csv``) likewise. The first two are now refused in one line naming the entry,
nothing imported; a file that looks like a registry file but has no kind's name is named on
standard error as not imported."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.deploy.procs import shuangsui


def _run(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return shuangsui(tmp_path, "registry", *args, SHUANGSUI_HOME=str(tmp_path / "data"),
                     SHUANGSUI_DATABASE_URL=db_url)  # fmt: skip


def _count(db_url: str, table: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("both", "{d}: both check-items.csv and check-items.xlsx; import all reads one file of "
                 "each kind: keep one"),
        ("fifo", "{d}/enterprises.csv: not a regular file (a FIFO, a device, a socket or a link "
                 "to nothing)"),
        ("folder", "{d}/enterprises.csv: a folder, not a file"),
    ],
)  # fmt: skip
def test_a_folder_with_two_files_of_a_kind_or_one_not_a_file_is_refused(
    tmp_path: Path, db_url: str, case: str, said: str
) -> None:
    registry, folder = tmp_path / "reg", tmp_path / "set"
    made = _run(tmp_path, db_url, "generate", "--enterprises", "5", "--inspectors", "2",
                "--seed", "1", "--out", str(registry))  # fmt: skip
    assert made.returncode == 0, made.stderr
    folder.mkdir()
    shutil.copy(registry / "check-items.csv", folder / "check-items.csv")
    if case == "both":
        shutil.copy(registry / "check-items.csv", folder / "check-items.xlsx")
    elif case == "fifo":
        os.mkfifo(folder / "enterprises.csv")
    else:
        (folder / "enterprises.csv").mkdir()
    proc = _run(tmp_path, db_url, "import", "all", str(folder))
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert proc.stderr == f"error: {said.format(d=folder)}\n"
    assert _count(db_url, "checkitem") == 0


def test_a_registry_file_under_another_name_is_said_not_imported(
    tmp_path: Path, db_url: str
) -> None:
    registry, folder = tmp_path / "reg", tmp_path / "set"
    made = _run(tmp_path, db_url, "generate", "--enterprises", "5", "--inspectors", "2",
                "--seed", "1", "--out", str(registry))  # fmt: skip
    assert made.returncode == 0, made.stderr
    folder.mkdir()
    shutil.copy(registry / "check-items.csv", folder / "check-items.csv")
    shutil.copy(registry / "inspectors.csv", folder / "inspector.csv")
    (folder / "notes.md").write_text("not a registry file\n", encoding="utf-8")
    proc = _run(tmp_path, db_url, "import", "all", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        f"warning: {folder}/inspector.csv: not a registry file's name (enterprises, "
        "certificates, inspectors, conflicts, check-items, .csv or .xlsx), so not imported\n"
    )
    assert "check-items: 5 rows, 5 inserted" in proc.stdout
    assert (_count(db_url, "checkitem"), _count(db_url, "inspector")) == (5, 0)
