"""A round deleted from the database and committed and drawn again under its key.

An operator who wants another draw deletes the round's rows (its record, artifacts, selection,
teams and what hangs on them), commits the same plan under the same key and draws it with
other digits. The audit log, append-only, keeps the first commitment and draw beside the
second. ``round verify`` compared the round's record with its events read into a dict, one
per kind, so the last ``RoundCommitted`` and ``DrawMade`` stood for the round and the first
draw was passed over: the second draw verified, and so did a publish's bundle of it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from rounds import bundle, service
from rounds.models import AuditEvent
from shuangsui.errors import IntegrityError
from tests.rounds.factories import plan_yaml, seed_registry

KEY = "ccc-2026-12"
WITNESSES = ("张三", "李四")


def _draw(engine: sa.Engine, digits: str) -> str:
    service.commit_round(engine=engine, plan_text=plan_yaml())
    drawn = service.draw_round(
        engine=engine, round_key=KEY,
        entropy=service.EntropyInput(witness_digits=digits, witnesses=WITNESSES),
    )  # fmt: skip
    assert drawn.seed
    return drawn.seed


def _delete_the_round(engine: sa.Engine) -> None:
    """Every row of the round but its audit events, children first."""
    with Session(engine) as s:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if "round_key" in table.c and table.name != AuditEvent.__tablename__:
                s.execute(table.delete().where(table.c.round_key == KEY))
        s.commit()


def test_a_round_drawn_again_under_its_key_is_named_by_verify(engine: sa.Engine) -> None:
    seed_registry(engine)
    first = _draw(engine, "31415926535897932384626433")
    bundle.recompute(engine, KEY)  # one commitment, one draw: verified

    _delete_the_round(engine)
    second = _draw(engine, "27182818284590452353602874")
    assert second != first

    with pytest.raises(IntegrityError) as caught:
        bundle.recompute(engine, KEY)
    said = str(caught.value)
    assert f"round {KEY}: the audit log has 2 RoundCommitted events" in said
    assert "2 DrawMade events" in said
    assert first in said and second in said  # both draws' seeds, for the auditor to ask about
