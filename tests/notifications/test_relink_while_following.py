"""A relink and a dispatcher's claim following the same members' messages at once do not
deadlock (PostgreSQL).

After a rotation (or a link ended), a dispatcher's claim follows the messages it took that
hold a dead link (``dispatch._followed``): it writes again every waiting message of each
member's seat, seat by seat, each seat's rewriting audited. The rotation's relink writes
again every waiting message of the round, in id order, and audits at its end. The two took
row locks in different orders: the follower held the first seat's later message (and the
audit log's head) while it went on to the second seat's earlier message; the relink, holding
that one, waited for the first seat's later message. PostgreSQL ended the deadlock by failing
one of them: a failed following sends its messages as they stood, with the dead link, and a
failed relink is the operator's rotation step to run again. Now a relink takes the followers'
turn (``follow.one_at_a_time``) before anything else: the two take turns.

Two real processes, made to meet: a third connection holds the second seat's earlier message
and the audit log's head, the follower takes the first seat's messages and waits on the log,
the relink then waits on that message, and the third lets go. Both must end well, and the
claim's messages must hold the member's current link. SQLite writes one transaction at a
time: nothing to meet there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from notifications import link_key
from notifications.links import assignment_token, idempotency_key
from notifications.models import Notification, NotificationKind
from rounds import audit
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.processes import ROOT

NEW_KEY = "the-rotated-key-of-the-bureau-0123456789"
EARLY = datetime(2026, 1, 1, tzinfo=UTC)  # the two messages the claim takes
LATER = datetime(2030, 1, 1, tzinfo=UTC)  # every other one: waiting, not due
T = Notification.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class HeadHeld:
    """An audit entry the third connection writes, and takes back, to hold the log's head."""

    by: str


def _two_seats(engine: sa.Engine) -> tuple[tuple[str, str], tuple[str, str], int]:
    """A drawn round whose notices wait, not due, but two: the first member's of the first
    two checks (the seats the follower takes in turn, S1 then S2). Each of the two seats is
    given a reminder more, not due, S2's written before S1's: S2's rewriting by the relink
    (id order) comes before S1's, the follower's after. The two seats (inspector_id,
    credit_code) and the id of S2's reminder."""
    teams = drawn_round(engine)
    (c1, t1), (c2, t2) = sorted(teams.items())[:2]
    s1, s2 = (t1[0], c1), (t2[0], c2)
    with Session(engine) as s:
        s.execute(sa.update(T).values(next_attempt_at=LATER))
        notices = {}
        for member, code in (s1, s2):
            notice = s.execute(sa.select(Notification).where(
                Notification.kind == NotificationKind.assignment,
                Notification.recipient == member, Notification.round_key == ROUND,
            )).scalars().all()  # fmt: skip
            notices[(member, code)] = next(n for n in notice if n.payload["credit_code"] == code)
            s.execute(sa.update(T).where(T.c.id == notices[(member, code)].id)
                      .values(next_attempt_at=EARLY))  # fmt: skip
        ids = {}
        for seat in (s2, s1):
            n = notices[seat]
            key = idempotency_key(ROUND, "reminder", n.recipient, f"{seat[1]}|later")
            reminder = Notification(
                idempotency_key=key, round_key=ROUND, kind="reminder", recipient=n.recipient,
                channel=n.channel, address=n.address, subject=n.subject, body=n.body,
                payload=n.payload, next_attempt_at=LATER, created_at=EARLY,
            )  # fmt: skip
            s.add(reminder)
            s.flush()
            ids[seat] = reminder.id
        s.commit()
    with engine.begin() as conn:  # the rotation's first step (``relink --all-open``)
        link_key.record(conn, link_key.fingerprint(NEW_KEY), by="李协调")
    return s1, s2, ids[s2]


def _start(
    db_url: str, tmp_path: Path, what: str, module: str = __name__
) -> subprocess.Popen[bytes]:
    """``python -m module what`` (a side, run by the module's ``_main``) on ``db_url``, under
    the rotated key."""
    env = os.environ | {"SHUANGSUI_DATABASE_URL": db_url, "SHUANGSUI_SECRET_KEY": NEW_KEY,
                        "SHUANGSUI_HOME": str(tmp_path / "home"),
                        "SHUANGSUI_ENVIRONMENT": "test", "PYTHONPATH": str(ROOT),
                        "PYTHONFAULTHANDLER": "1"}  # fmt: skip
    command = [sys.executable, "-m", module, what]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip


def _until_waiting(engine: sa.Engine, count: int, procs: list[subprocess.Popen[bytes]]) -> None:
    """Until ``count`` sessions of this database wait for a lock; if they never do, where
    each process is, and what each session does."""
    waiting = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                      " AND wait_event_type = 'Lock'")  # fmt: skip
    deadline = time.monotonic() + 120
    with engine.connect() as watcher:
        while watcher.execute(waiting).scalar_one() < count:
            watcher.rollback()  # the activity is read once a transaction: read it anew
            ended = [p for p in procs if p.poll() is not None]
            assert not ended, [p.communicate()[0].decode() for p in ended]
            if time.monotonic() > deadline:
                rows = watcher.execute(sa.text(
                    "SELECT state, wait_event_type, wait_event, left(query, 120) FROM "
                    "pg_stat_activity WHERE datname = current_database()")).all()  # fmt: skip
                for p in procs:
                    p.send_signal(signal.SIGABRT)  # where it is: faulthandler's dump
                said = [p.communicate()[0].decode("utf-8", "replace") for p in procs]
                pytest.fail(f"{count} sessions never waited: {rows} {said}")
            time.sleep(0.05)


@pytest.mark.slow
def test_a_relink_and_a_claim_following_the_same_members_take_turns(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: no two wait on each other")
    s1, s2, held = _two_seats(engine)
    with engine.connect() as holder:
        holder.begin()
        holder.execute(sa.select(T.c.id).where(T.c.id == held).with_for_update())
        session = Session(bind=holder, join_transaction_mode="rollback_only")
        audit.add_to(session, ROUND, HeadHeld("the test's third connection"))  # flushed
        follower = _start(db_url, tmp_path, "claim")
        _until_waiting(engine, 1, [follower])  # S1 rewritten, waiting on the log's head
        relinker = _start(db_url, tmp_path, "relink")
        _until_waiting(engine, 2, [follower, relinker])
        holder.rollback()
    said = ended_well(claim=follower, relink=relinker)
    claimed = json.loads(said["claim"].strip().splitlines()[-1])
    assert len(claimed) == 2, said
    for member, code, link in claimed:  # the claim's messages go with the links that open
        assert (member, code) in (s1, s2)
        assert link.endswith(f"token={assignment_token(NEW_KEY, ROUND, code, member)}"), link
    with engine.connect() as conn:  # and every message of the two seats waits with it
        rows = conn.execute(sa.select(T.c.recipient, T.c.payload).where(
            T.c.kind.in_(["assignment", "reminder"]))).all()  # fmt: skip
    for member, payload in rows:
        code = payload["credit_code"]
        if (member, code) in (s1, s2):
            token = assignment_token(NEW_KEY, ROUND, code, member)
            assert payload["link"].endswith(f"token={token}"), (member, payload)


def ended_well(**procs: subprocess.Popen[bytes]) -> dict[str, str]:
    """What each process (by name; ``claim``, the claim's) said, once each ended well: no
    deadlock said (a write tries again after one, ``shuangsui.writes``, and says so when its
    process logs at INFO), the claim's following not failed."""
    said = {name: p.communicate(timeout=120)[0].decode("utf-8", "replace")
            for name, p in procs.items()}  # fmt: skip
    assert [p.returncode for p in procs.values()] == [0] * len(procs), said
    assert not any("deadlock" in text for text in said.values()), said
    assert "following claimed messages" not in said["claim"], said
    return said


def _main(what: str) -> None:
    """One side, in a process of its own: the claim (the messages it took, as JSON, last), or
    the rotation's relink of the round."""
    import logging

    from notifications.dispatch import claim
    from notifications.relink import relink
    from shuangsui.db import get_engine

    logging.basicConfig(level=logging.WARNING)
    engine = get_engine()
    if what == "claim":
        rows = claim(engine, 2, datetime.now(UTC), timedelta(minutes=5), secret=NEW_KEY)
        print(json.dumps([[r.recipient, r.payload["credit_code"], r.payload["link"]]
                          for r in rows]))  # fmt: skip
    else:
        with Session(engine) as session, session.begin():
            relink(session, round_key=ROUND, by="李协调", reason="密钥轮换", rotate=True)


if __name__ == "__main__":
    _main(sys.argv[1])
