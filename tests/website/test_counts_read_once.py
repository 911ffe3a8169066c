"""A publish that puts a commitment on the site first takes the site's fingerprints twice (the
pages then say the moment it first appeared), from one read of the counts by round
(``website.inputs.counts``): it read the four tables' counts again for the second, ~11 ms of
a full publish of 20,000 results. What it records stands for what it read: the next publish,
nothing changed, writes nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from rounds import service
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish


def test_the_counts_are_read_once_when_a_commitment_goes_on_the_site_first(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    counted: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "WITH RECURSIVE round_keys" in statement:  # website.inputs.per_round
            counted.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        first = publish(engine, tmp_path / "site", bundles=False)
        assert "rounds/ccc-2026-12/commitment.json" in first.written
        assert len(counted) == 4  # selection, assignment, team_change, finding_change: once
        again = publish(engine, tmp_path / "site", bundles=False)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert again.written == [] and again.reread == []
