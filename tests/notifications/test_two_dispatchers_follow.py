"""Two dispatchers following the same members' messages at once.

A claim follows the rows it took that hold another link than the member's current one
(``dispatch._followed``): it writes again every waiting message of that member on that
check, in the claim's transaction. Two dispatchers whose batches each hold messages of the
same members, their links ended, each claim a batch and each follow rows of the other's. Two
real ``shuangsui notifications dispatch`` processes at once, many messages of a few members
whose links were ended (no relink, so every claim follows), a real SMTP server (aiosmtpd) on
loopback: every message is sent once, with the link that opens, none left claimed, and
neither process logs a following that failed. SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.generations import LinkGeneration
from notifications.links import assignment_token, idempotency_key
from notifications.models import Notification, NotificationKind, NotificationStatus
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.processes import dispatcher
from tests.notifications.servers import SmtpSink
from tests.notifications.test_follow_after_failure import _texts

MEMBERS = 3  # the members whose links are ended
COPIES = 24  # more messages of each of their seats, beside the notice
EARLY = datetime(2026, 1, 1, tzinfo=UTC)  # the copies due first: the first claims take them
T = Notification.__table__  # type: ignore[attr-defined]


@pytest.fixture
def sink() -> Any:
    server = SmtpSink().start()
    yield server
    server.stop()


def _many_of_a_few(engine: sa.Engine) -> dict[tuple[str, str], str]:
    """A drawn round; ``MEMBERS`` members' seats each given ``COPIES`` reminders more, the
    notice's words, and then every one of their links ended (generation 1), nothing written
    again: each of their messages holds a link that no longer opens. The token that opens,
    by seat (inspector_id, credit_code)."""
    teams = drawn_round(engine)
    counts = Counter(m for team in teams.values() for m in team)
    members = sorted(counts, key=lambda m: (-counts[m], m))[:MEMBERS]
    secret = get_settings().secret_key.get_secret_value()
    now = datetime.now(UTC)
    with Session(engine) as s:
        notices = s.exec(select(Notification).where(
            Notification.kind == NotificationKind.assignment,
            Notification.recipient.in_(members))).all()  # type: ignore[attr-defined]  # fmt: skip
        seats = {}
        for i in range(COPIES):  # one of each seat in turn: every batch holds several seats
            for n in notices:
                code = n.payload["credit_code"]
                key = idempotency_key(ROUND, "reminder", n.recipient, f"{code}|copy{i}")
                s.add(Notification(idempotency_key=key, round_key=ROUND, kind="reminder",
                                   recipient=n.recipient, channel=n.channel, address=n.address,
                                   subject=n.subject, body=n.body, payload=n.payload,
                                   next_attempt_at=EARLY, created_at=now))  # fmt: skip
                s.flush()
        for n in notices:
            code = n.payload["credit_code"]
            seats[(n.recipient, code)] = assignment_token(secret, ROUND, code, n.recipient, 1)
            s.add(LinkGeneration(round_key=ROUND, credit_code=code, inspector_id=n.recipient,
                                 generation=1, ended_at=now, ended_by="李协调",
                                 reason="手机丢失"))  # fmt: skip
        s.commit()
    return seats


@contextmanager
def _first_claims_at_once(engine: sa.Engine) -> Iterator[None]:
    """On PostgreSQL, the outbox locked against writes until both dispatchers' first claims
    wait for it: let go, they claim and follow at the same moment. (SQLite runs one writer at
    a time: the two take turns.)"""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as holder, holder.begin():
        holder.execute(sa.text("LOCK TABLE notification IN SHARE MODE"))
        yield
        waiting = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted "
                          "AND relation = 'notification'::regclass")  # fmt: skip
        deadline = time.monotonic() + 120
        with engine.connect() as watcher:
            while watcher.execute(waiting).scalar_one() < 2:
                assert time.monotonic() < deadline, "the dispatchers never claimed"
                time.sleep(0.05)


def _dispatcher(db_url: str, home: Path, sink: SmtpSink, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return dispatcher(db_url, home, sink.port, out=out, NOTIFY_CONCURRENCY="2",
                          NOTIFY_PROCESSES="1", NOTIFY_BATCH_SIZE="4")  # fmt: skip


@pytest.mark.slow
def test_two_dispatchers_following_the_same_members_send_each_message_once_with_its_link(
    engine: sa.Engine, db_url: str, tmp_path: Path, sink: SmtpSink
) -> None:
    seats = _many_of_a_few(engine)
    with engine.connect() as conn:
        due = conn.execute(sa.select(sa.func.count()).select_from(T).where(
            T.c.status == NotificationStatus.pending.value)).scalar_one()  # fmt: skip
    logs = [tmp_path / f"dispatch-{i}.log" for i in (1, 2)]
    with _first_claims_at_once(engine):
        procs = [_dispatcher(db_url, tmp_path / "home", sink, log) for log in logs]
    for proc, log in zip(procs, logs, strict=True):
        assert proc.wait(180) == 0, log.read_text()
    said = "\n".join(log.read_text(errors="replace") for log in logs)
    assert "following claimed messages" not in said and "Traceback" not in said, said
    with engine.connect() as conn:
        left = dict(conn.execute(sa.select(T.c.status, sa.func.count()).group_by(T.c.status)
                                 .where(T.c.lease_until.is_(None))).all())  # fmt: skip
    assert sum(left.values()) == due and left.get("pending", 0) == 0, left  # none left claimed
    ids = Counter(str(r.message["Message-ID"]) for r in sink.handler.received)
    with engine.connect() as conn:
        by_mail = conn.execute(sa.select(sa.func.count()).select_from(T).where(
            T.c.status == "sent", T.c.channel == "email")).scalar_one()  # fmt: skip
    assert len(ids) == by_mail and set(ids.values()) == {1}  # every message, each once
    with engine.connect() as conn:
        rows = conn.execute(sa.select(T.c.status, T.c.lease_until, T.c.recipient, T.c.payload)
                            .where(T.c.kind.in_(["assignment", "reminder"]))).all()  # fmt: skip
    assert {(status, lease) for status, lease, _, _ in rows} == {("sent", None)}
    for _, _, member, payload in rows:
        token = seats.get((member, payload["credit_code"]))
        if token is not None:
            assert payload["link"].endswith(f"token={token}"), (member, payload)
    secret = get_settings().secret_key.get_secret_value()
    dead = [assignment_token(secret, ROUND, code, member) for member, code in seats]
    assert not any(f"token={token}" in text for text in _texts(sink.handler.received)
                   for token in dead)  # fmt: skip
