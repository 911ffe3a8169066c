"""Two ``notifications relink --all-open`` run at once with the new key record it once, and
the rotation is said once (PostgreSQL).

Each run's first step records its key as the current one (``link_key.record``: the newest
row read, a row added when it is another key). Two operators' runs at the same moment each
read the old key, each added a row of the new one and each said "the secret key was
rotated … replacing …". Now the step takes the relinks' turn first (``follow.one_at_a_time``,
as each round's relink does): the second reads the first's row and adds none. The two runs
are made to meet by a third connection holding table ``link_key`` until both wait for it.
SQLite writes one transaction at a time."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from notifications import link_key
from notifications.relink_all import RoundRelinked, relink_all_open
from shuangsui.config import get_settings
from tests.notifications.test_stale_key import NEW_KEY, _rotate


def test_two_runs_at_once_record_the_new_key_once(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: no two wait on each other")
    old = link_key.fingerprint(get_settings().secret_key.get_secret_value())
    with engine.begin() as conn:
        link_key.record(conn, old, by="serve, at its start")
    _rotate(monkeypatch)
    turns: dict[str, list[RoundRelinked]] = {}

    def run(by: str) -> None:
        turns[by] = list(relink_all_open(engine, by=by, reason="密钥轮换"))

    runs = [threading.Thread(target=run, args=(by,)) for by in ("李协调", "王协调")]
    waiting = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                      " AND wait_event_type = 'Lock'")  # fmt: skip
    with engine.connect() as holder, engine.connect() as watcher:
        holder.begin()
        holder.execute(sa.text("LOCK TABLE link_key IN ACCESS EXCLUSIVE MODE"))
        for thread in runs:
            thread.start()
        deadline = time.monotonic() + 60
        while watcher.execute(waiting).scalar_one() < 2:
            watcher.rollback()  # the activity is read once a transaction: read it anew
            assert time.monotonic() < deadline, "the two runs never waited"
            time.sleep(0.05)
        holder.rollback()
    for thread in runs:
        thread.join(60)
    said = [t.key_replaced for ts in turns.values() for t in ts if t.key_replaced]
    assert said == [old], turns  # the rotation said once, by the run that recorded it
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT fingerprint FROM link_key ORDER BY id")).scalars()
        assert list(rows) == [old, link_key.fingerprint(NEW_KEY)]
