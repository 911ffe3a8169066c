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


def _drawn(engine: sa.Engine) -> Round:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    return service.draw_round(
        engine=engine,
        round_key=rnd.round_key,
        entropy=service.EntropyInput(witness_digits="31415926535897932384", witnesses=("张三",)),
    )


def test_the_notices_of_a_draw_equal_those_built_from_the_stored_assignments(
    engine: sa.Engine,
) -> None:
    rnd = _drawn(engine)
    from_the_draw = _outbox(engine)  # written by the hook, inside the draw, from its result
    assert len(from_the_draw) > 1
    with Session(engine) as session:
        session.execute(sa.text("DELETE FROM notification"))
        drawn = session.get(Round, rnd.round_key)
        after_draw(session, drawn, None)  # no result: the assignments are read back
        session.commit()
    assert _outbox(engine) == from_the_draw


def test_notices_written_a_few_teams_at_a_time_are_the_same_rows(
    engine: sa.Engine, monkeypatch
) -> None:
    """The outbox is filled a batch of teams at a time (a draw's memory does not grow with its
    notices): batches of one team give the rows one batch gives, each once."""
    from notifications import outbox

    rnd = _drawn(engine)
    whole = _outbox(engine)
    with Session(engine) as session:
        teams = session.execute(sa.text("SELECT COUNT(DISTINCT credit_code) FROM assignment"))
        assert teams.scalar_one() > 2
        session.execute(sa.text("DELETE FROM notification"))
        session.commit()
    monkeypatch.setattr(outbox, "TEAMS_PER_BATCH", 1)
    with Session(engine) as session:
        result = outbox.enqueue_round_assignments(session=session, round_key=rnd.round_key)
        again = outbox.enqueue_round_assignments(session=session, round_key=rnd.round_key)
        session.commit()
    assert result.queued == result.messages == len(whole) and again.queued == 0
    assert _outbox(engine) == whole


def test_a_round_queued_again_writes_nothing_and_one_missing_a_few_gets_those(
    engine: sa.Engine,
) -> None:
    """The draw's round has no outbox rows before it, so its keys are not looked up; a round
    queued again has rows, and then only the keys not there yet are written."""
    from notifications import outbox

    rnd = _drawn(engine)
    whole = _outbox(engine)
    with engine.connect() as conn:
        stored = list(conn.execute(sa.text("SELECT * FROM notification ORDER BY id")))
    with Session(engine) as session:
        again = outbox.enqueue_round_assignments(session=session, round_key=rnd.round_key)
        session.commit()
    assert again.queued == 0 and again.messages == len(whole)
    with engine.connect() as conn:  # not a byte moved: ids, times, statuses
        assert list(conn.execute(sa.text("SELECT * FROM notification ORDER BY id"))) == stored
    with Session(engine) as session:
        gone = session.execute(
            sa.text("DELETE FROM notification WHERE recipient <> 'coordinator' AND id % 3 = 0")
        ).rowcount
        assert gone > 0
        refilled = outbox.enqueue_round_assignments(session=session, round_key=rnd.round_key)
        session.commit()
    assert refilled.queued == gone
    assert _outbox(engine) == whole
