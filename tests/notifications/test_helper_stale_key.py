"""A dispatcher's helper process that meets a rotated key is said as the dispatcher's own
refusal: :class:`~notifications.link_key.StaleKey`, one line and exit 2 from the command.

Its parent used to raise a ``RuntimeError`` naming the helper ("dispatcher helper process N
failed: StaleKey: ..."), a traceback from ``shuangsui notifications dispatch``; and when the
parent stopped on the stale key itself, the helper's ``RuntimeError`` took its place. A real
helper process (``python -m notifications.helper``); SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

import notifications.dispatch as dispatch_module
from notifications import link_key
from notifications.dispatch import dispatch
from notifications.helper import start_helpers
from notifications.outbox import enqueue_round_assignments
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.cli import user_message
from shuangsui.config import get_settings
from shuangsui.db import session_scope
from tests.notifications.factory import TODAY, make_round

ROTATED = "f" * 64  # the fingerprint a rotation's relink recorded


def _enqueue(engine: Engine, enterprises: int) -> None:
    world = make_round(engine, enterprises=enterprises)
    with session_scope(engine) as session:
        enqueue_round_assignments(session=session, round_key=world.round_key, today=TODAY,
                                  summary=False)  # fmt: skip


def _rotate(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(link_key.K).values(
            fingerprint=ROTATED, recorded_at=datetime.now(UTC), recorded_by="a relink",
        ))  # fmt: skip


def _said_in_one_line(exc: BaseException) -> None:
    said = user_message(exc)
    assert said is not None and "\n" not in said, said
    mine = link_key.fingerprint(get_settings().secret_key.get_secret_value())
    assert f"fingerprint {mine[:16]}" in said and f"fingerprint {ROTATED[:16]}" in said, said


def test_a_helper_refused_its_claim_is_the_same_refusal(engine: Engine) -> None:
    """The key rotated before a helper's first claim: waiting for it raises the refusal its
    claim met, with both fingerprints, the moment and who recorded it."""
    _enqueue(engine, enterprises=10)
    notify = NotifySettings(channel="file", batch_size=10, processes=2)
    _rotate(engine)
    (helper,) = start_helpers(1, engine=engine, batch_size=10, concurrency=1, round_key=None,
                              now=None, settings=get_settings(), notify=notify,
                              smtp=SmtpSettings())  # fmt: skip
    with pytest.raises(link_key.StaleKey) as raised:
        helper.wait()
    assert (raised.value.recorded, raised.value.by) == (ROTATED, "a relink")
    _said_in_one_line(raised.value)


def test_a_dispatcher_and_its_helper_meeting_a_rotation_say_it_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key rotated after the dispatcher's first claim, as its helper starts: the helper
    is refused its first claim, the dispatcher its next; the dispatch stops with the key's
    refusal, not the helper's failure."""
    _enqueue(engine, enterprises=40)  # 80 messages
    notify = NotifySettings(channel="file", batch_size=10, processes=2, helper_min_backlog=20)
    backlog = dispatch_module.backlog

    def rotated(*args: Any, **kw: Any) -> int:  # counted after the first claim: a helper next
        _rotate(engine)
        return backlog(*args, **kw)

    monkeypatch.setattr(dispatch_module, "backlog", rotated)
    with pytest.raises(link_key.StaleKey) as raised:
        dispatch(engine=engine, notify=notify)
    _said_in_one_line(raised.value)
