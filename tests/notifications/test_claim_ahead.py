"""A dispatcher claims its next batch while its workers send what is left of the last one.

Every worker used to wait for each claim once no claimed row was left: on PostgreSQL a claim
of 200 (a round trip a statement, the rows updated and read back, a commit) took 13-22 ms of
the dispatcher's wall time, a fifth of a run of 3,000 webhooks (docs/benchmarks.md,
"Notifications"). The next batch is now claimed once half a batch is left, and the other
workers send from it meanwhile; what a claim ahead meets (a failure, a rotated key) leaves
no message sent twice or lost.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, select

import notifications.dispatch as dispatch_module
from notifications import link_key
from notifications.dispatch import dispatch
from notifications.models import Notification
from notifications.outbox import enqueue_round_assignments
from notifications.settings import NotifySettings
from shuangsui.db import session_scope
from tests.notifications.factory import TODAY, make_round

BATCH = 10  # claimed at a time; the next claimed once BATCH // 2 are left


def _enqueue(engine: Engine, enterprises: int) -> int:
    world = make_round(engine, enterprises=enterprises)
    with session_scope(engine) as session:
        return enqueue_round_assignments(
            session=session, round_key=world.round_key, today=TODAY, summary=False
        ).queued


def _statuses(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        rows = s.exec(select(Notification.status, Notification.lease_until)).all()
    out: dict[str, int] = {}
    for status, lease_until in rows:
        key = f"{status}{' leased' if lease_until is not None else ''}"
        out[key] = out.get(key, 0) + 1
    return out


def _notify(concurrency: int) -> NotifySettings:
    return NotifySettings(channel="file", batch_size=BATCH, concurrency=concurrency, processes=1)


def test_the_next_batch_is_claimed_while_the_workers_send_what_is_left(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second claim takes a while (up to 5 s, as a slow database would): the other
    worker sends at least three messages meanwhile, then every message goes once."""
    queued = _enqueue(engine, enterprises=20)  # 40 messages
    claim, deliver = dispatch_module.claim, dispatch_module._deliver
    claiming = threading.Event()
    during: list[int] = []  # sent while the slow claim was under way
    slow: list[bool] = []

    def slow_claim(*args: Any, **kw: Any) -> list:
        if "held" in kw and not slow:  # the workers' first claim (the first is dispatch's)
            slow.append(True)
            claiming.set()
            deadline = time.monotonic() + 5
            while len(during) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            claiming.clear()
        return claim(*args, **kw)

    def counted(row: Any, *args: Any) -> Any:
        if claiming.is_set():
            during.append(row.id)
        return deliver(row, *args)

    monkeypatch.setattr(dispatch_module, "claim", slow_claim)
    monkeypatch.setattr(dispatch_module, "_deliver", counted)
    report = dispatch(engine=engine, notify=_notify(2))
    assert len(during) >= 3, f"{len(during)} sent while the next batch was claimed"
    assert (report.claimed, report.sent, report.released, report.lost) == (queued, queued, 0, 0)
    assert _statuses(engine) == {"sent": queued}


def test_a_claim_ahead_that_fails_leaves_what_is_queued_to_be_sent(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails the second claim: the first batch is still sent, each message
    once, and the failure stops the dispatcher as it did when no row was left."""
    queued = _enqueue(engine, enterprises=20)
    claim = dispatch_module.claim

    def failing(*args: Any, **kw: Any) -> list:
        if "held" in kw:
            raise sa.exc.OperationalError("claim", {}, Exception("the server went away"))
        return claim(*args, **kw)

    monkeypatch.setattr(dispatch_module, "claim", failing)
    with pytest.raises(sa.exc.OperationalError, match="the server went away"):
        dispatch(engine=engine, notify=_notify(1))
    assert _statuses(engine) == {"sent": BATCH, "pending": queued - BATCH}


def test_a_key_rotated_before_a_claim_ahead_gives_back_what_is_queued(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is rotated while half the first batch waits to be sent: the claim ahead
    finds it, and what is queued goes back unsent (not leased), as a renewal finding it
    gives it back; the dispatcher stops with the key's refusal."""
    queued = _enqueue(engine, enterprises=20)
    claim = dispatch_module.claim

    def rotated(*args: Any, **kw: Any) -> list:
        if "held" in kw:
            with engine.begin() as conn:
                conn.execute(sa.insert(link_key.K).values(
                    fingerprint="f" * 64, recorded_at=datetime.now(UTC), recorded_by="relink",
                ))  # fmt: skip
        return claim(*args, **kw)

    monkeypatch.setattr(dispatch_module, "claim", rotated)
    with pytest.raises(link_key.StaleKey):
        dispatch(engine=engine, notify=_notify(1))
    statuses = _statuses(engine)
    assert "pending leased" not in statuses, statuses
    assert statuses["sent"] + statuses["pending"] == queued
    assert statuses["sent"] == BATCH // 2, statuses  # one worker: the half not queued
