"""An inspector's address corrected by the registry's import, while messages to them wait.

Before, every waiting message kept the address it was queued with: the member's notices of
both their checks went to the wrong address when dispatched, each with the member's live link,
and a relink of one check mended only that check's. Now the import sends the member's
messages not yet left (waiting, never tried, not in a dispatcher's hands) to the corrected
address, of every check, audited with the old address and the new; a message that has left
stays where it went. A dispatcher's claim of one of them at the moment of the import (a real
dispatcher run, its claim held before it commits; PostgreSQL) keeps that one where it was
queued. SQLite and PostgreSQL; the import is the registry's own, of a file its export wrote."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.dispatch import DispatchReport, dispatch
from notifications.models import Notification, NotificationKind, NotificationStatus
from notifications.settings import NotifySettings, SmtpSettings
from registry.export import export_kind
from registry.importer import import_file
from registry.models import Inspector
from rounds.models import AuditEvent
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.servers import SmtpSink
from tests.races import assert_blocked

FIXED = "zhang.corrected@bureau.example.cn"
T = Notification.__table__  # type: ignore[attr-defined]


def _on_two_checks(engine: sa.Engine) -> tuple[str, str, list[str]]:
    """A member on two checks or more of the round: (member, their address, the checks)."""
    teams = drawn_round(engine)
    counts = Counter(m for team in teams.values() for m in team)
    member = min(m for m, n in counts.items() if n >= 2)
    with Session(engine) as s:
        address = s.get(Inspector, member).email  # type: ignore[union-attr]
    return member, address, sorted(code for code, team in teams.items() if member in team)


def _correct(engine: sa.Engine, folder: Path, old: str, new: str) -> None:
    """The registry's inspectors exported, ``old`` corrected to ``new``, imported again."""
    path = folder / "inspectors.csv"
    with Session(engine) as s:
        export_kind(session=s, kind="inspectors", out=path)
    text = path.read_bytes().decode("utf-8-sig")
    assert text.count(old) == 1
    path.write_bytes(text.replace(old, new).encode("utf-8-sig"))
    with Session(engine) as s:
        assert import_file(session=s, kind="inspectors", path=path).updated == 1
        s.commit()


def _notices(engine: sa.Engine, member: str) -> dict[str, Notification]:
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(
            Notification.recipient == member,
            Notification.kind == NotificationKind.assignment)).all()  # fmt: skip
    return {m.payload["credit_code"]: m for m in rows}


def _readdressed(engine: sa.Engine) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.event == "MessagesReaddressed")).all()
    return [{"round": e.round_key, **json.loads(e.payload)} for e in rows]


def one_due(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, list[str]]:
    """A drawn round's notices to the file outbox; a member on two checks or more, their
    address and the checks, of which only the first's notice is due now."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    member, wrong, codes = _on_two_checks(engine)
    _only_due(engine, _notices(engine, member)[codes[0]].idempotency_key)
    return member, wrong, codes


def _only_due(engine: sa.Engine, key: str) -> None:
    """Only the message of ``key`` due now; the rest put off a month (still waiting, untried)."""
    later = datetime.now(UTC) + timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(T.update().where(T.c.idempotency_key != key).values(next_attempt_at=later))


def test_an_import_correcting_an_address_moves_the_messages_not_yet_left(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    member, wrong, codes = one_due(engine, monkeypatch)
    gone, *waiting = codes
    assert dispatch(engine=engine).sent == 1  # one notice has left, to the wrong address
    others = {m.id: m.address for m in _all_but(engine, member)}
    _correct(engine, tmp_path, wrong, FIXED)
    notices = _notices(engine, member)
    assert (notices[gone].status, notices[gone].address) == (NotificationStatus.sent, wrong)
    assert {code: notices[code].address for code in waiting} == dict.fromkeys(waiting, FIXED)
    assert {m.id: m.address for m in _all_but(engine, member)} == others  # nobody else's
    assert _readdressed(engine) == [{
        "round": ROUND, "inspector_id": member, "old_channel": "email", "old_address": wrong,
        "channel": "email", "address": FIXED, "messages": len(waiting), "tried": 0}]  # fmt: skip
    _correct(engine, tmp_path, FIXED, FIXED.replace("zhang", "zhang2"))  # corrected again
    assert {m.address for c, m in _notices(engine, member).items() if c != gone} == {
        FIXED.replace("zhang", "zhang2")}  # fmt: skip
    assert [e["old_address"] for e in _readdressed(engine)] == [wrong, FIXED]
    sink = SmtpSink().start()
    try:
        notify = NotifySettings(channel="live")  # type: ignore[call-arg]
        later = datetime.now(UTC) + timedelta(days=31)
        dispatch(engine=engine, notify=notify, smtp=SmtpSettings(port=sink.port), now=later)  # type: ignore[call-arg]
        to = [mail.rcpts for mail in sink.handler.received]
    finally:
        sink.stop()
    assert [wrong] not in to  # nothing more reaches the wrong address
    assert to.count([FIXED.replace("zhang", "zhang2")]) == len(waiting)


def _all_but(engine: sa.Engine, member: str) -> list[Notification]:
    with Session(engine) as s:
        return list(s.exec(select(Notification).where(Notification.recipient != member)).all())


def test_a_message_a_dispatcher_claims_at_that_moment_stays(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A real dispatcher run claims the member's notice of one check, and its claim is held
    just before it commits while the import corrects the member's address: the import's
    update waits for the claim's row lock, then finds the notice leased and leaves it (it goes
    to the address it was queued with, as a message already in a dispatcher's hands does); the
    notice of the other check follows the address."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    member, wrong, codes = one_due(engine, monkeypatch)
    claimed, *waiting = codes
    report = while_claim_held(engine, lambda pool: pool.submit(_correct, engine, tmp_path, wrong,
                                                               FIXED))  # fmt: skip
    assert report.sent == 1
    notices = _notices(engine, member)
    assert (notices[claimed].status, notices[claimed].address) == ("sent", wrong)
    assert {code: notices[code].address for code in waiting} == dict.fromkeys(waiting, FIXED)
    (event,) = _readdressed(engine)
    assert (event["old_address"], event["address"], event["messages"]) == (
        wrong, FIXED, len(waiting))  # fmt: skip


def while_claim_held(
    engine: sa.Engine, then: Callable[[ThreadPoolExecutor], Future[Any]], **kw: Any
) -> DispatchReport:
    """A real dispatcher run (one worker, an engine of its own, ``dispatch(**kw)``) whose
    first claim is held just before it commits while ``then(pool)`` starts a write, which
    must wait for the claim's row lock (PostgreSQL); then the claim commits, and the write
    and the run end."""
    dispatcher = sa.create_engine(engine.url)
    held, go = threading.Event(), threading.Event()

    @sa.event.listens_for(dispatcher, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.startswith("UPDATE notification SET lease_until"):
            conn.info["claim"] = True

    @sa.event.listens_for(dispatcher, "commit")
    def _hold(conn: Any) -> None:
        if conn.info.pop("claim", False) and not held.is_set():
            held.set()
            assert go.wait(60), "the test never let the claim commit"

    kw.setdefault("notify", NotifySettings(batch_size=10, processes=1))  # type: ignore[call-arg]
    try:
        with ThreadPoolExecutor(2) as pool:
            run = pool.submit(dispatch, engine=dispatcher, concurrency=1, **kw)
            try:
                assert held.wait(30), f"the dispatcher never claimed: {run}"
                write = then(pool)
                assert_blocked(engine, write, "the write did not wait for the claim")
            finally:
                go.set()
            report = run.result(60)
            write.result(60)
    finally:
        dispatcher.dispose()
    return report
