"""Changes that write members' messages again wait for a following, not for each other.

A replacement, a new date, a finding's version or signature, a findings import and a joint
round's replacement take the followers' turn before the round's row (``rounds.turns``): a
dispatcher's following, seat by seat, deadlocked with each on PostgreSQL
(tests/notifications/test_findings_while_following.py and its kin). Taken exclusively, the turn
also made every such change wait for every other's transaction to end: two inspectors signing
two findings, or a findings import and a sign-off, one after the other bureau-wide. Now changes
take it shared (``follow.not_while_following``); a following or a relink takes it alone
(``follow.one_at_a_time``), and waits for the changes under way, which wait for it.

On PostgreSQL (SQLite writes one transaction at a time, and the turn sends nothing there):
connections hold the turn as two changes do, and each wait is bounded by ``lock_timeout``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from notifications import follow, hooks
from rounds import turns


def _waits(conn: sa.Connection, take: turns.Turn) -> bool:
    """Whether ``take``, in a transaction of ``conn``'s own, waits for another's turn (given up
    after 200 ms)."""
    with conn.begin():
        conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
        try:
            with conn.begin_nested():
                take(conn)
        except sa.exc.OperationalError as exc:
            assert "lock timeout" in str(exc), exc
            return True
        return False


def test_changes_take_the_turn_together_and_a_following_waits_for_them(
    engine: sa.Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's advisory locks; SQLite writes one transaction at a time")
    hooks.install()
    with engine.connect() as first, engine.connect() as second, engine.connect() as other:
        with first.begin():
            turns.take(first)  # a change under way: a sign-off, say
            assert not _waits(second, turns.take), "a second change waited for the first"
            assert _waits(other, follow.one_at_a_time), "a following did not wait for a change"
        with other.begin():
            follow.one_at_a_time(other)  # a following under way
            assert _waits(second, turns.take), "a change did not wait for a following"
        assert not _waits(second, turns.take)  # the following ended: nothing to wait for
