"""``shuangsui publish`` in real processes, every one of a test running the same program.

A publish names the program that made each round's files (``website.inputs.code_version``,
a SHA-256 of the packages' files, read from disk by each process) in the manifest and the
parts. A test that compares a folder published by some processes with one published by
another process compares those digests too, so the packages must not change between the
processes. In the working tree they may: a source file edited while the test runs (by a
person, or by anything else working in the same tree) made the processes started before the
edit and those started after it name two programs, and the folders differ in
``.manifest.json`` and ``.parts/`` alone. So each test runs its processes from its own copy
of the packages, taken once when it begins."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.procs import REPO_ROOT, clean_env
from website.inputs import PACKAGES


def program_copy(dest: Path) -> Path:
    """A copy of the packages in ``dest`` (about 3 MB), from which ``python -m shuangsui`` run
    with ``dest`` as its working folder imports them: the working folder comes first on
    ``sys.path``, before the editable install's finder, which points at the working tree."""
    for name in PACKAGES:
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def publish_process(
    program: Path, db_url: str, tmp_path: Path, out: Path, kill_at: str = ""
) -> int:
    """``shuangsui publish --out out`` run from ``program`` (:func:`program_copy`); its exit
    status. ``kill_at``: the point where it kills itself (``shuangsui.files.kill_point``);
    without it, it must succeed."""
    env = clean_env(
        SHUANGSUI_DATABASE_URL=db_url,
        SHUANGSUI_HOME=str(tmp_path / "home"),
        SHUANGSUI_ENVIRONMENT="test",
    )
    if kill_at:
        env["SHUANGSUI_TEST_KILL_AT"] = kill_at
    done = subprocess.run(
        [sys.executable, "-m", "shuangsui", "publish", "--out", str(out)],
        cwd=program, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    if not kill_at:
        assert done.returncode == 0, done.stderr.decode()
    return done.returncode
