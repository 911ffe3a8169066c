"""An import made after the month's run says what it means for the month's rounds.

The operator who imports the registry on the 1st at 09:00, after the monthly run at 02:00,
read only counts (`enterprises: 3000 rows, 120 inserted, ...`): nothing said that the month's
round committed at 02:00 had frozen the registry without these rows, nor that a round the run
held for a stale registry was still not committed. Now the import says both, one `note:` line
a round; an import of another month's rounds, or one that changed nothing, says nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

import flows.plans
from notifications.models import Notification
from notifications.outbox import enqueue_round_held
from registry.cli import app
from rounds import service
from tests.rounds.factories import plan_yaml, seed_registry

from .helpers import enterprise_row, enterprises_file

runner = CliRunner()
AT_TWO = dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)  # 2026-12-01 02:00 in Shanghai


def _month(monkeypatch: pytest.MonkeyPatch, period: str) -> None:
    real = flows.plans.current_period

    def current(tz: str = "Asia/Shanghai", today: dt.date | None = None) -> str:
        return period if today is None else real(tz, today)

    monkeypatch.setattr(flows.plans, "current_period", current)


def _the_month_began(engine: sa.Engine, next_try: str = "retry") -> None:
    """The 1st's run: one round committed at 02:00, another held for its registry, its
    coordinator told what follows (``next_try``)."""
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    with Session(engine) as s:
        s.execute(sa.text("UPDATE round SET committed_at = :at"), {"at": AT_TWO})
        enqueue_round_held(session=s, round_key="org-2026-12", plan_id="org-2026-12.yaml",
                           reasons=["the registry was last imported on 2026-10-28, more than "
                                    "35 days ago"], preview=[], next_try=next_try,
                           next_at="2026-12-01 03:00 北京时间" if next_try == "retry" else "",
                           period="2026-12")  # fmt: skip
        s.execute(sa.update(Notification).values(created_at=AT_TWO))
        s.commit()
    assert rnd.round_key == "ccc-2026-12"


HELD = ("note: round org-2026-12 was held by its preflight at 2026-12-01 02:00 (Asia/Shanghai), "
        "the coordinator told why, and is not committed yet: ")  # fmt: skip


def test_a_late_import_names_the_months_committed_and_held_rounds(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _the_month_began(engine)
    _month(monkeypatch, "2026-12")
    late = enterprises_file(tmp_path / "e.csv", [enterprise_row(n) for n in range(3)])
    result = runner.invoke(app, ["import", "enterprises", str(late)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: round ccc-2026-12 of 2026-12 was committed at 2026-12-01 02:00 (Asia/Shanghai), "
        "before this import: it draws from the registry as it stood then; this import counts "
        "from the next round committed",
        HELD + "commit it now (shuangsui round commit PLAN), or let the monthly-round "
        "deployment's runs commit it: one was scheduled for 2026-12-01 03:00 北京时间, then one "
        "each whole hour it is held, till the month ends",
    ]

    # the same file again changes nothing, but is an import: the notes again
    again = runner.invoke(app, ["import", "enterprises", str(late)])
    assert again.exit_code == 0 and again.output.count("note: ") == 2


def test_no_note_in_another_month_nor_for_a_refused_import(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _the_month_began(engine)
    _month(monkeypatch, "2027-01")  # the rounds above are last month's
    late = enterprises_file(tmp_path / "e.csv", [enterprise_row(n) for n in range(3)])
    result = runner.invoke(app, ["import", "enterprises", str(late)])
    assert result.exit_code == 0 and "note:" not in result.output, result.output

    _month(monkeypatch, "2026-12")
    bad = enterprises_file(tmp_path / "bad.csv", [enterprise_row(9, division_code="999999")])
    refused = runner.invoke(app, ["import", "enterprises", str(bad)])
    assert refused.exit_code == 2 and "note:" not in refused.output, refused.output


@pytest.mark.parametrize(
    ("next_try", "said"),
    [
        ("plan", "it was held for its plan, which this import does not clear: fix the plan, "
                 "then commit it (shuangsui round commit PLAN)"),
        ("month_end", "no run is scheduled to commit it: commit it now (shuangsui round commit "
                      "PLAN)"),
        ("by_hand", "no run is scheduled to commit it: commit it now (shuangsui round commit "
                    "PLAN)"),
        (None, "commit it now (shuangsui round commit PLAN), or let the run of the monthly-round "
               "deployment scheduled when it was held commit it within the hour (its log and "
               "held artifact say whether one was)"),
    ],
    ids=["plan", "month_end", "by_hand", "before-next_try"],
)  # fmt: skip
def test_a_held_rounds_note_says_what_its_message_said_follows(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, next_try: str | None,
    said: str,
) -> None:  # fmt: skip
    """Only a round held for its registry has a run scheduled to commit it: a round held for
    its plan, or when no run follows (the month's end, a run not from the deployment), is
    not promised one; a message stored before it said what follows (None) gets the words of
    then."""
    _the_month_began(engine, next_try or "by_hand")
    if next_try is None:
        with Session(engine) as s:
            s.execute(sa.update(Notification).values(payload={"reasons": ["stale"]}))
            s.commit()
    _month(monkeypatch, "2026-12")
    late = enterprises_file(tmp_path / "e.csv", [enterprise_row(n) for n in range(3)])
    result = runner.invoke(app, ["import", "enterprises", str(late)])
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if "org-2026-12" in line] == [HELD + said]
