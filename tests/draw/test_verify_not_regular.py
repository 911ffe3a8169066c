"""verify.py given a bundle whose listed file is not a regular file: a FIFO (a tar archive
carries one) made it wait for ever on open(), and a symlink to /dev/zero was read until memory
ran out. Each is now one line naming the file, exit 1, before anything reads it; a symlink to
a regular file is still read as that file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from draw.bundle import write_bundle
from draw.core import draw

from .factories import make_inputs
from .test_bundle import run_verify


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    inputs = make_inputs(1234, 40)
    return write_bundle(tmp_path / "b", inputs, draw(inputs), {"bureau": "测试局"})


def zero(path: str) -> None:
    os.symlink("/dev/zero", path)


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("frame-enterprises.jsonl", os.mkfifo, "a FIFO"),
        ("entropy.json", zero, "a device"),
        ("MANIFEST.sha256", os.mkfifo, "a FIFO"),
        ("teams.json", os.mkdir, "a folder"),
    ],
)
def test_a_file_that_is_not_a_regular_file_is_named(
    bundle: Path, name: str, make: object, kind: str
) -> None:
    (bundle / name).unlink()
    make(str(bundle / name))  # type: ignore[operator]
    ran = run_verify(bundle)  # 60 s at most: it hung for ever
    assert ran.returncode == 1, ran.stdout + ran.stderr
    said = f"{name}: not a regular file ({kind})"
    assert said in ran.stdout + ran.stderr, ran.stdout + ran.stderr


def test_a_symlink_to_the_file_itself_is_read_as_the_file(bundle: Path, tmp_path: Path) -> None:
    kept = tmp_path / "teams.json"
    shutil.move(bundle / "teams.json", kept)
    (bundle / "teams.json").symlink_to(kept)
    ran = run_verify(bundle)
    assert ran.returncode == 0, ran.stdout + ran.stderr
