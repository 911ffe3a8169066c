"""A replacement recorded by a shuangsui before its MemberReplaced event carried the time
(between c6accda and 1f7434a): after an upgrade, ``round verify`` and every bundle of the round
stopped for good with "differs: recorded_at" (the row has its time, the event never said one),
on a database nobody had touched. Such an event is now compared on what it says; the row's other
facts are still held to it (found upgrading a bureau as an operator; SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import InitVar, dataclass

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from rounds import bundle, replacements
from rounds.models import TeamChange
from rounds.replacements import replace_member
from shuangsui.errors import IntegrityError
from tests.findings.factories import ROUND, drawn_round


@dataclass(frozen=True)
class MemberReplaced:
    """The event as shuangsui wrote it before 1f7434a: no recorded_at (nor due_on)."""

    n: int
    credit_code: str
    position: int
    withdrawn: str
    replacement: str
    cause: str
    note: str
    recorded_by: str
    recorded_at: InitVar[str] = ""
    due_on: InitVar[str | None] = None


@pytest.fixture
def replaced_by_an_older_version(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    monkeypatch.setattr(replacements, "MemberReplaced", MemberReplaced)
    replace_member(engine, ROUND, code, drawn[code][0], cause="conflict",
                   note="其配偶在该企业任职，申请回避", recorded_by="李协调")  # fmt: skip
    monkeypatch.undo()


def test_it_verifies_after_the_upgrade(
    engine: sa.Engine, replaced_by_an_older_version: None
) -> None:
    bundle.recompute(engine, ROUND)


def test_its_reason_rewritten_is_still_named(
    engine: sa.Engine, replaced_by_an_older_version: None
) -> None:
    with Session(engine) as s:
        s.execute(sa.update(TeamChange).values(note="例行调整"))
        s.commit()
    with pytest.raises(IntegrityError, match="replacement 1 .*differs: note"):
        bundle.recompute(engine, ROUND)
