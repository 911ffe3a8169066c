"""A plan named by its id is read once where it is found: ``round check``, ``round commit``, the
ad hoc round flow and an urgent lead's accept found it by reading the plan files
(``rounds.plans.find_plan``), then read the found file again to use it. Twice the reading, and
a race: the file could change between the read that found it and the read used (its id edited
away, another plan's text). Now each takes the text that found it
(``rounds.plans.found_plan``); a plan named by its file is read once too. SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app
from tests.leads.test_triage import Desk
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry


@pytest.fixture
def plan_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ccc-2026-12 in ``ccc.yaml`` of a plans folder, beside another month's plan."""
    later = plan_yaml(plan_id="ccc-2027-01", period="2027-01")
    plans = plans_folder(
        tmp_path, monkeypatch, files={"ccc.yaml": plan_yaml(), "later.yaml": later}
    )
    return (plans / "ccc.yaml").resolve()


def _reads(monkeypatch: pytest.MonkeyPatch, plan_file: Path) -> list[str]:
    """Each read of ``plan_file`` from now on, by how it was read."""
    reads: list[str] = []
    real_bytes, real_text = Path.read_bytes, Path.read_text

    def read_bytes(self: Path) -> bytes:
        if self.resolve() == plan_file:
            reads.append("read_bytes")
        return real_bytes(self)

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.resolve() == plan_file:
            reads.append("read_text")
        return real_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Path, "read_text", read_text)
    return reads


@pytest.mark.parametrize("plan", ["ccc-2026-12", "ccc.yaml"], ids=["by-id", "by-file"])
@pytest.mark.parametrize("command", ["check", "commit"])
def test_round_check_and_commit_read_the_plan_once(
    engine: sa.Engine,
    plan_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    plan: str,
) -> None:
    seed_registry(engine)
    _register_groups()
    reads = _reads(monkeypatch, plan_file)
    out = CliRunner().invoke(app, ["round", command, plan])
    assert out.exit_code == 0, out.output
    assert len(reads) == 1, reads


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("plan", ["ccc-2026-12", "ccc.yaml"], ids=["by-id", "by-file"])
def test_the_adhoc_flow_reads_the_plan_once(
    engine: sa.Engine, plan_file: Path, monkeypatch: pytest.MonkeyPatch, plan: str
) -> None:
    from flows.rounds import adhoc_round

    seed_registry(engine)
    reads = _reads(monkeypatch, plan_file)
    committed = adhoc_round(plan=plan, reason="投诉", requested_by="林科长")
    assert committed["status"] == "committed", committed
    assert len(reads) == 1, reads
    again = adhoc_round(
        plan=plan, reason="投诉", requested_by="林科长", round_id=committed["round_key"]
    )  # as committed: not again
    assert again["round_key"] == committed["round_key"]
    assert len(reads) == 2, reads


@pytest.mark.parametrize("plan", ["ccc-2026-12", "ccc.yaml"], ids=["by-id", "by-file"])
def test_an_urgent_lead_s_plan_is_read_once(
    engine: sa.Engine, plan_file: Path, monkeypatch: pytest.MonkeyPatch, plan: str
) -> None:
    code = seed_registry(engine, enterprises=8)[0]
    desk = Desk(engine)
    lead = desk.lead(code)
    reads = _reads(monkeypatch, plan_file)
    done = desk.post(f"/leads/{lead}/accept", {"check_item": "CCC-01", "urgent": True,
                                               "adhoc_plan": plan})  # fmt: skip
    assert done.status_code == 200, done.text
    assert len(reads) == 1, reads


@pytest.mark.usefixtures("prefect_harness")
def test_the_monthly_flow_reads_each_plan_due_once(
    engine: sa.Engine, plan_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The month's run reads every plan to find those due, and commits each from the text
    that found it: a plan edited between the two reads (its period moved) committed another
    month's round in this month's run."""
    from flows.rounds import monthly_round

    seed_registry(engine)
    reads = _reads(monkeypatch, plan_file)
    [committed] = monthly_round(period="2026-12")
    assert committed["round_key"] == "ccc-2026-12", committed
    assert len(reads) == 1, reads
