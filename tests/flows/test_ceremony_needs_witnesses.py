"""A ceremony's digits reach the round flows with the witnesses' names, or the run is refused
at once naming the parameter and how to give it. README.md's command for drawing a committed
ad hoc round from its deployment gave ``witness_digits`` alone: the run read the round, went
into the draw task and failed there with ``witness digits: witness-digits: witnesses must be a
non-empty list of names``, which names no parameter of the deployment. SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from flows.rounds import adhoc_round, draw_round, monthly_round
from rounds import service
from rounds.models import AuditEvent, RoundKind
from shuangsui import config
from shuangsui.errors import UserError
from tests.rounds.factories import plan_yaml, seed_registry

DIGITS = "27182818284590452353602874"
REFUSAL = r"^witnesses: the ceremony's witnesses are needed with witness_digits"
pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine) -> list[str]:
    (tmp_path / "ccc-2026-12.yaml").write_text(plan_yaml(), encoding="utf-8")
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(tmp_path))
    config.get_settings.cache_clear()
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key="adhoc-1", reason="投诉", requested_by="林科长")  # fmt: skip
    with Session(engine) as session:
        return [e.event for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]


@pytest.mark.parametrize("witnesses", [None, []])
def test_digits_without_witnesses_are_refused_naming_the_parameter(
    engine: sa.Engine, committed: list[str], witnesses: list[str] | None
) -> None:
    with pytest.raises(UserError, match=REFUSAL) as refused:
        adhoc_round(plan="ccc-2026-12", reason="投诉", requested_by="林科长",
                    round_id="adhoc-1", witness_digits=DIGITS, witnesses=witnesses)  # fmt: skip
    assert """--param 'witnesses=["陈明","林晓"]'""" in str(refused.value)
    with pytest.raises(UserError, match=REFUSAL):
        draw_round(round_key="adhoc-1", requested_by="林科长", witness_digits=DIGITS,
                   witnesses=witnesses or [])  # fmt: skip
    with pytest.raises(UserError, match=REFUSAL):
        monthly_round(period="2026-12", witness_digits=DIGITS, witnesses=witnesses)
    assert service.get_round(engine, "adhoc-1").status.value == "committed"
    with Session(engine) as session:
        events = [e.event for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]
    assert events == committed  # nothing committed, drawn or refused meanwhile


@pytest.mark.usefixtures("committed")
def test_digits_with_witnesses_draw(engine: sa.Engine) -> None:
    summary = draw_round(round_key="adhoc-1", requested_by="林科长", witness_digits=DIGITS,
                         witnesses=["陈明", "林晓"])  # fmt: skip
    assert summary["status"] == "drawn"
    assert service.get_round(engine, "adhoc-1").status.value == "drawn"
