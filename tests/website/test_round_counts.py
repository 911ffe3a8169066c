"""The counts the site's fingerprints take of each round (``website.inputs.per_round``: a
round at a time, its key found by a seek above the last, its rows counted on the index) are
those of ``GROUP BY round_key``, on either database and under its collation: every round,
its count and its largest id, none left out, none made up."""

from __future__ import annotations

import sqlalchemy as sa

from website import inputs

# keys whose order differs by bytes and by a collation, and keys that share a beginning
KEYS = ["r-9", "r-10", "R-a", "r", "r-9 ", "二轮", "一轮", "十轮"]


def test_counts_by_round_are_those_of_group_by(engine: sa.Engine) -> None:
    changes = inputs._FC
    rows = [{"round_key": key} for n, key in enumerate(KEYS, 1) for _ in range(n)]
    with engine.begin() as conn:
        conn.execute(changes.insert(), rows)
        grouped = sa.select(changes.c.round_key, sa.func.count(), sa.func.max(changes.c.id))
        expected = conn.execute(grouped.group_by(changes.c.round_key)).all()
        counted = conn.execute(inputs.per_round(changes, changes.c.id)).all()
        assert sorted(counted) == sorted(expected)
        assert sorted(count for _, count, _ in counted) == list(range(1, len(KEYS) + 1))
        # a table with no row: no round
        assert conn.execute(inputs.per_round(inputs._TC)).all() == []
