"""A beacon round named a lead after its commitment (``SHUANGSUI_BEACON_LEAD``).

The round named was the first after the commitment, one period away (3 s on drand's
quicknet): its value existed before the commitment could reach the public site, so the
promise "the round was fixed and published before the random number was known" rested on the
partner log alone. Now the round named is the first at or after the commitment plus the lead
(15 minutes by default), the lead is in the plan, and a draw before that time waits, asks the
beacon nothing and decides nothing; after it, the round is drawn once."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, select

from rounds import service
from rounds.models import AuditEvent, RoundStatus, Selection
from shuangsui.config import Settings
from shuangsui.errors import EntropyUnavailable
from tests.rounds.beacon_clock import Drand, drand, round_time  # noqa: F401  (a fixture)
from tests.rounds.factories import plan_yaml, seed_registry

KEY = "ccc-2026-12"


def _decided(engine: sa.Engine) -> tuple[int, int]:
    """(selections, DrawMade events): what a draw leaves."""
    with Session(engine) as s:
        selections = len(s.exec(select(Selection)).all())
        made = s.exec(select(AuditEvent).where(AuditEvent.event == "DrawMade")).all()
        return selections, len(made)


@pytest.mark.parametrize("lead", ["PT10M", "600", "00:10:00"])
def test_the_round_named_is_the_first_at_or_after_the_commitment_and_its_lead(
    engine: sa.Engine,
    drand: Drand,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    lead: str,
) -> None:
    monkeypatch.setenv("SHUANGSUI_BEACON_LEAD", lead)
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    (spec,) = rnd.entropy_plan["sources"]
    fixed = drand.clock + dt.timedelta(minutes=10)
    assert round_time(spec["round"] - 1) < fixed <= round_time(spec["round"])
    assert spec["expected_at"] == round_time(spec["round"]).isoformat()
    assert spec["lead_seconds"] == 600


def test_the_default_lead_is_minutes(
    engine: sa.Engine,
    drand: Drand,  # noqa: F811
) -> None:
    seed_registry(engine)
    (spec,) = service.commit_round(engine=engine, plan_text=plan_yaml()).entropy_plan["sources"]
    assert round_time(spec["round"]) >= drand.clock + dt.timedelta(minutes=15)
    assert spec["lead_seconds"] == 900


def test_a_draw_before_the_round_named_waits_and_after_it_draws_once(
    engine: sa.Engine,
    drand: Drand,  # noqa: F811
) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    (spec,) = rnd.entropy_plan["sources"]
    due = dt.datetime.fromisoformat(spec["expected_at"])
    assert due >= drand.clock + dt.timedelta(minutes=15)

    drand.clock = due - dt.timedelta(seconds=1)  # the commitment's lead nearly over
    with pytest.raises(EntropyUnavailable, match=f"waiting for beacon round {spec['round']}"):
        service.draw_round(engine=engine, round_key=KEY)
    assert drand.asked == []  # its value does not exist: nothing is asked of the beacon
    assert service.get_round(engine, KEY).status is RoundStatus.committed
    assert _decided(engine) == (0, 0)

    drand.clock = due
    drawn = service.draw_round(engine=engine, round_key=KEY)
    assert drawn.status is RoundStatus.drawn
    assert [r["round"] for r in drawn.entropy] == [spec["round"]]
    selected, made = _decided(engine)
    assert selected > 0 and made == 1

    drand.clock = due + dt.timedelta(hours=1)  # drawn once: a later run changes nothing
    again = service.draw_round(engine=engine, round_key=KEY)
    assert again.seed == drawn.seed and _decided(engine) == (selected, 1)


@pytest.mark.parametrize("lead", ["P2D", "PT24H1S", "-60", "-PT1M"])
def test_a_lead_of_days_or_below_zero_is_refused(
    monkeypatch: pytest.MonkeyPatch, lead: str
) -> None:
    monkeypatch.setenv("SHUANGSUI_BEACON_LEAD", lead)
    with pytest.raises(ValidationError, match="beacon_lead") as err:
        Settings()
    assert "between 0 and 24 hours" in str(err.value)


@pytest.mark.parametrize("lead", ["0", "PT0S"])
def test_no_lead_is_refused_in_production(monkeypatch: pytest.MonkeyPatch, lead: str) -> None:
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "production")
    monkeypatch.setenv("SHUANGSUI_HOME", "/var/lib/shuangsui")
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", "q7Vd2pLx9ZrT4mWc8NbK1sHyJ6fGaE3uRo5iXt0")
    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", "https://shuangsui.example.gov.cn")
    monkeypatch.setenv("SHUANGSUI_BEACON_LEAD", lead)
    with pytest.raises(ValidationError, match="SHUANGSUI_BEACON_LEAD is 0"):
        Settings()
    monkeypatch.setenv("SHUANGSUI_BEACON_LEAD", "PT5M")
    assert Settings().beacon_lead == dt.timedelta(minutes=5)
