"""``risk classify --rules FILE`` with a file it cannot read as rules: refused in one line naming
``--rules`` and the file, exit 2, nothing classified. A rules file saved as GBK ended in a
``UnicodeDecodeError`` traceback, a folder was said as ``reg: Is a directory`` without the
option, and a FIFO made the command wait for ever. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from risk.models import RiskRun
from risk.rules import DEFAULT_RULES
from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError
from tests.rounds.factories import seed_registry


def test_rules_that_cannot_be_read_are_refused_naming_the_option(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine, enterprises=4)
    gbk = tmp_path / "rules-gbk.yaml"
    gbk.write_bytes(DEFAULT_RULES.read_text(encoding="utf-8").encode("gb18030"))
    fifo = tmp_path / "rules.fifo"
    os.mkfifo(fifo)
    refused = {
        gbk: f"--rules: {gbk}: not UTF-8 text (byte 0x",
        tmp_path: f"--rules: {tmp_path}: a folder, not a file",
        fifo: f"--rules: {fifo}: not a regular file (a FIFO, a device or a socket)",
        tmp_path / "none.yaml": f"--rules: {tmp_path / 'none.yaml'}: no such file",
    }
    _register_groups()
    cli = CliRunner()
    for path, said in refused.items():
        args = ["risk", "classify", "--as-of", "2026-12-31", "--rules", str(path)]
        out = cli.invoke(app, args)
        assert isinstance(out.exception, UserError), (path, out.output)
        assert out.exception.exit_code == 2
        assert str(out.exception).startswith(said) and "\n" not in str(out.exception)
    with Session(engine) as s:
        assert s.exec(select(RiskRun)).all() == []
    utf8 = tmp_path / "rules.yaml"
    utf8.write_text(DEFAULT_RULES.read_text(encoding="utf-8"), encoding="utf-8")
    ran = cli.invoke(app, ["risk", "classify", "--as-of", "2026-12-31", "--rules", str(utf8)])
    assert ran.exit_code == 0, ran.output
