"""``shuangsui registry import … --uscc-whitelist FILE`` with a whitelist that is not one. A
whitelist saved as GBK (not UTF-8) ended the import in a ``UnicodeDecodeError`` traceback, an
entry without its code or reason in a ``ValueError`` one, a FIFO made it wait for ever, and a
folder or a missing file was said without the option (``error: reg: Is a directory``). Each is
now one line naming ``--uscc-whitelist`` and the file, exit 2, before anything is imported."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.deploy.procs import BIN, clean_env


def _run(cwd: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(PREFECT_HOME=str(cwd / "prefect-home"), SHUANGSUI_HOME=str(cwd / "data"),
                    SHUANGSUI_DATABASE_URL=db_url)  # fmt: skip
    return subprocess.run([str(BIN / "shuangsui"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _whitelist(folder: Path, case: str) -> Path:
    path = folder / "whitelist.csv"
    if case == "gbk":
        path.write_bytes("credit_code,reason\n91350100MA2XXXXX01,历史遗留代码\n".encode("gbk"))
    elif case == "entry":
        path.write_text("credit_code,reason\n91350100MA2XXXXX01,\n", encoding="utf-8")
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "folder":
        path.mkdir()
    return path  # "missing": not made


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("gbk", "not UTF-8 text (byte 0xc0 at offset 38)"),
        ("entry", "whitelist.csv:2: a whitelist entry needs an 18-character code and a reason"),
        ("fifo", "whitelist.csv: not a regular file (a FIFO, a device or a socket)"),
        ("folder", "whitelist.csv: a folder, not a file"),
        ("missing", "whitelist.csv: no such file"),
    ],
)
def test_a_whitelist_that_is_not_one_is_refused_naming_the_option(
    tmp_path: Path, db_url: str, case: str, said: str
) -> None:
    registry = tmp_path / "reg"
    made = _run(tmp_path, db_url, "registry", "generate", "--enterprises", "5",
                "--inspectors", "2", "--seed", "1", "--out", str(registry))  # fmt: skip
    assert made.returncode == 0, made.stderr
    path = _whitelist(tmp_path, case)
    proc = _run(tmp_path, db_url, "registry", "import", "enterprises",
                str(registry / "enterprises.csv"), "--uscc-whitelist", str(path))  # fmt: skip
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert proc.stderr.startswith(f"error: --uscc-whitelist: {tmp_path}"), proc.stderr
    assert said in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            for table in ("enterprise", "registry_import"):
                assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0
    finally:
        engine.dispose()
