"""Two commits of one round at once (the command run twice, at two desks): one commitment. The
second has looked for the round and found none, and is held before it writes while the first
commits; let go, its write collides with the first's round and it returns that round, as a
commit of a committed round does, instead of trying again until it gives up."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from rounds import audit, service
from shuangsui import writes
from tests.races import held_while
from tests.rounds.factories import plan_yaml, seed_registry


def test_a_commit_that_lost_to_a_concurrent_commit_of_its_round_returns_that_round(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    second = held_while(
        monkeypatch,
        (writes, "write"),
        lambda: service.commit_round(engine=engine, plan_text=plan_yaml()),
        meanwhile=lambda: service.commit_round(engine=engine, plan_text=plan_yaml()),
    )

    first = service.get_round(engine, second.round_key)
    assert (second.committed_at, second.entropy_plan) == (first.committed_at, first.entropy_plan)
    assert second.frame_commitment == first.frame_commitment
    with Session(engine) as s:
        events = [e.event for e in audit.load_chain(s, second.round_key)]
    assert events == ["RoundCommitted"]
