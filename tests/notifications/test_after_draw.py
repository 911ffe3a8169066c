"""The draw's notices are built from the draw's own teams: the same rows as reading them back."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from notifications.hooks import after_draw
from rounds import service
from rounds.models import Round
from tests.rounds.factories import plan_yaml, seed_registry

COLUMNS = "idempotency_key, kind, recipient, channel, address, language, subject, body, payload"


def _outbox(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT {COLUMNS} FROM notification ORDER BY 1")))


def test_the_notices_of_a_draw_equal_those_built_from_the_stored_assignments(
    engine: sa.Engine,
) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    service.draw_round(
        engine=engine,
        round_key=rnd.round_key,
        entropy=service.EntropyInput(witness_digits="31415926535897932384", witnesses=("张三",)),
    )
    from_the_draw = _outbox(engine)  # written by the hook, inside the draw, from its result
    assert len(from_the_draw) > 1
    with Session(engine) as session:
        session.execute(sa.text("DELETE FROM notification"))
        drawn = session.get(Round, rnd.round_key)
        after_draw(session, drawn, None)  # no result: the assignments are read back
        session.commit()
    assert _outbox(engine) == from_the_draw
