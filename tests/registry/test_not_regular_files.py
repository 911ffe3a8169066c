"""A path that is no regular file given to the imports that read through ``registry.io``: a FIFO
or a device was called "no such file" (it exists), and a folder given to the leads' or the
findings' import was told that ``registry import all`` takes a folder (a hint for another
command). Now each says what the path is, and only the registry's import gives the hint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry.cli import app
from registry.io import inspect_source
from shuangsui.errors import UserError

runner = CliRunner()


@pytest.mark.parametrize("what", ["fifo", "device"])
def test_a_fifo_or_a_device_is_named_as_such(tmp_path: Path, what: str) -> None:
    path = tmp_path / "enterprises.csv"
    if what == "fifo":
        os.mkfifo(path)
    else:
        path = Path("/dev/null")
    result = runner.invoke(app, ["import", "enterprises", str(path)])
    assert result.exit_code == 2
    assert f"{path}: not a regular file (a FIFO, a device or a socket)" in result.stderr
    with pytest.raises(UserError, match="not a regular file"):
        inspect_source(path)


def test_a_folder_is_hinted_at_registry_import_all_only_by_the_registry(tmp_path: Path) -> None:
    folder = tmp_path / "leads.csv"
    folder.mkdir()
    result = runner.invoke(app, ["import", "enterprises", str(folder)])
    assert result.exit_code == 2
    assert f"{folder}: a folder, not a file (`registry import all` takes a folder)" in result.stderr
    # the leads' and the findings' imports read through inspect_source as it is called here
    with pytest.raises(UserError) as refused:
        inspect_source(folder)
    assert str(refused.value) == f"{folder}: a folder, not a file"


def test_a_missing_file_and_a_path_through_a_file_are_no_such_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n", encoding="utf-8")
    for path in (tmp_path / "none.csv", tmp_path / "a.csv" / "b.csv"):
        with pytest.raises(UserError, match=r"no such file$"):
            inspect_source(path)
