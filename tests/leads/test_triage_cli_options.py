"""``shuangsui leads accept``, ``merge`` and ``reject`` refuse naming their own options. They
said the service's field names: ``check_item: 'NOPE' is not in the check-item list`` for
``--check-item NOPE``, ``into: a lead cannot be merged into itself`` for ``--into``, ``reason:
give the reason`` for a blank ``--reason``. Now ``--check-item:``, ``--into:``, ``--reason:``,
exit 2, the lead left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from leads import service
from leads.models import LeadStatus
from tests.deploy.procs import shuangsui
from tests.leads.helpers import complaint
from tests.rounds.factories import seed_registry


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["accept", "{a}", "--check-item", "NOPE"],
         "--check-item: 'NOPE' is not in the check-item list"),
        (["accept", "{a}", "--check-item", "CCC-01", "--reason", "x" * 1001],
         "--reason: at most 1000 characters"),
        (["merge", "{a}", "--into", "{a}"], "--into: a lead cannot be merged into itself"),
        (["merge", "{a}", "--into", "999999"], "--into: lead 999999 does not exist"),
        (["merge", "{a}", "--into", "{b}", "--reason", "x" * 1001],
         "--reason: at most 1000 characters"),
        (["reject", "{a}", "--reason", "  "],
         "--reason: give the reason (it is part of the audit record)"),
    ],
)  # fmt: skip
def test_a_triage_refused_names_the_option(
    tmp_path: Path, engine: sa.Engine, db_url: str, args: list[str], said: str
) -> None:
    code = seed_registry(engine, enterprises=4)[0]
    a, b = complaint(engine, code), complaint(engine, code)
    argv = [arg.format(a=a, b=b) for arg in args]
    proc = shuangsui(tmp_path, "leads", *argv, "--by", "林科长", SHUANGSUI_DATABASE_URL=db_url)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", f"error: {said}\n")
    assert [service.get(engine, n).status for n in (a, b)] == [LeadStatus.received] * 2
