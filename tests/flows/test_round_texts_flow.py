"""The round flows hold their parameters to the rule every path to a commit keeps
(``rounds.service.check_texts``): ``adhoc-round``'s ``reason`` and ``requested_by``,
``draw-round``'s ``requested_by``, refused naming the parameter before anything is read or
written. A deployment's run took any: an ad hoc round was committed with U+202E in its reason,
the continuation of a committed round audited the text in its refusal (AdhocRefused), and a
draw audited it as who asked. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from flows.rounds import adhoc_round, draw_round
from rounds import service
from rounds.models import AuditEvent, Round, RoundKind
from shuangsui import config
from shuangsui.errors import UserError
from tests.rounds.factories import plan_yaml, seed_registry

DIGITS = "27182818284590452353602874"
pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ccc-2026-12.yaml").write_text(plan_yaml(), encoding="utf-8")
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(tmp_path))
    config.get_settings.cache_clear()
    return tmp_path


def _events(engine: sa.Engine) -> list[str]:
    with Session(engine) as session:
        return [e.event for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]


@pytest.mark.usefixtures("plans_dir")
def test_a_new_round_is_refused_naming_the_parameter(engine: sa.Engine) -> None:
    seed_registry(engine)
    with pytest.raises(UserError, match=r"^reason: contains the invisible character U\+202E"):
        adhoc_round(plan="ccc-2026-12", reason="投诉\u202e举报", requested_by="林科长")
    with pytest.raises(UserError, match=r"^requested_by: 65 characters, at most 64"):
        adhoc_round(plan="ccc-2026-12", reason="投诉", requested_by="林" * 65)
    with Session(engine) as session:
        assert session.exec(select(Round)).all() == []
    assert _events(engine) == []


@pytest.mark.usefixtures("plans_dir")
def test_a_committed_round_asked_with_it_is_refused_and_nothing_audited(
    engine: sa.Engine,
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key="adhoc-1", reason="投诉", requested_by="林科长")  # fmt: skip
    before = _events(engine)
    with pytest.raises(UserError, match=r"^reason: contains the control character U\+001B"):
        adhoc_round(plan="ccc-2026-12", reason="投诉\x1b[2J", requested_by="林科长",
                    round_id="adhoc-1", witness_digits=DIGITS, witnesses=["王五"])  # fmt: skip
    with pytest.raises(UserError, match=r"^requested_by: contains the invisible"):
        draw_round(round_key="adhoc-1", requested_by="林\u202e科长", witness_digits=DIGITS,
                   witnesses=["王五"])  # fmt: skip
    assert _events(engine) == before
    assert service.get_round(engine, "adhoc-1").status.value == "committed"
