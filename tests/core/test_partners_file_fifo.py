"""``SHUANGSUI_PARTNERS_FILE`` naming a FIFO is refused naming it: opening it waited for a
writer, so ``partners sync`` hung (still running after 40 s) and so did every reader of the
directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.deploy.procs import BIN, clean_env


def test_a_partners_file_that_is_a_fifo_is_refused_naming_it(tmp_path: Path) -> None:
    fifo = tmp_path / "partners.toml"
    os.mkfifo(fifo)
    home, prefect = str(tmp_path / "home"), str(tmp_path / "prefect-home")
    env = clean_env(PREFECT_HOME=prefect, SHUANGSUI_HOME=home, SHUANGSUI_PARTNERS_FILE=str(fifo))
    proc = subprocess.run([str(BIN / "shuangsui"), "partners", "sync"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"error: {fifo}: not a regular file (a FIFO)" in proc.stderr, proc.stderr
