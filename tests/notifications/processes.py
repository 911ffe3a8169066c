"""A real ``shuangsui notifications dispatch`` process for the tests, started from this tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


def dispatcher(db_url: str, home: Path, smtp_port: int, *args: str, out: IO[bytes] | int,
               **notify: str) -> subprocess.Popen[bytes]:  # fmt: skip
    """``shuangsui notifications dispatch ARGS`` on ``db_url`` with live channels (mail to
    ``smtp_port``), its output (stdout and stderr) to ``out``; ``notify``: more settings, by
    their names after ``SHUANGSUI_`` (``NOTIFY_CONCURRENCY="1"``, ``SECRET_KEY=...``)."""
    env = os.environ | {f"SHUANGSUI_{name}": value for name, value in notify.items()}
    env |= {"SHUANGSUI_DATABASE_URL": db_url, "SHUANGSUI_HOME": str(home),
            "SHUANGSUI_ENVIRONMENT": "test", "SHUANGSUI_SMTP_PORT": str(smtp_port),
            "SHUANGSUI_NOTIFY_CHANNEL": "live", "PYTHONPATH": str(ROOT)}  # fmt: skip
    command = [sys.executable, "-m", "shuangsui", "notifications", "dispatch", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
