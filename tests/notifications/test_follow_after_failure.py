"""A member's message that failed at the old address, or failed while a dispatcher held it,
follows the member's corrected address and current link.

Before, an inspector's address corrected by the registry's import moved only the messages
never tried: one tried at the old address and waiting for its retry (an SMTP 451) was tried
there again until its attempts ran out, each time with the member's live link; and one a
dispatcher held at the moment (of the import, or of a relink that ended the member's link)
was left as it was, and, when it failed, retried at the old address, or with the dead link
beside the new message that replaced it. Now the import moves a tried message too, its count
of attempts started again and due at once (audited with how many were tried); and once a
dispatcher records a failure of a message it held, the message follows the member's address
as the registry holds it and, a 检查链接重新发送 whose link was ended or given again meanwhile,
is withdrawn (the later one holds the link that opens and says what became of the earlier).
A real dispatcher, a real SMTP server (aiosmtpd) on loopback holding the message in its DATA
until the import or the relink is done; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from notifications.dispatch import DispatchReport, dispatch
from notifications.models import NotificationStatus
from notifications.settings import NotifySettings, SmtpSettings
from registry.models import Inspector
from rounds.models import AuditEvent
from shuangsui.cli import _register_groups
from tests.notifications.servers import Received, SinkHandler, SmtpSink
from tests.notifications.test_readdress import (
    FIXED,
    _correct,
    _notices,
    _readdressed,
    one_due,
    while_claim_held,
)
from tests.notifications.test_relink_reasons import CAUSES, _reissued, _relink
from tests.workspace.helpers import delivered_round

LIVE = NotifySettings(channel="live", processes=1)  # type: ignore[call-arg]


class HeldHandler(SinkHandler):
    """Holds a message to an address in ``hold`` in its DATA (``holding`` set) until ``go``
    is set, then answers ``answer`` (451: to be retried) or accepts it."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: set[str] = set()
        self.holding, self.go = threading.Event(), threading.Event()
        self.answer = "451 4.3.0 try again later"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold & set(envelope.rcpt_tos):
            self.holding.set()
            while not self.go.is_set():
                await asyncio.sleep(0.02)
            if self.answer:
                return self.answer
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def sink() -> Any:
    server = SmtpSink(HeldHandler()).start()
    yield server
    server.handler.go.set()
    server.stop()


def _send(engine: sa.Engine, sink: SmtpSink, **kw: Any) -> DispatchReport:
    return dispatch(engine=engine, notify=LIVE, smtp=SmtpSettings(port=sink.port), **kw)  # type: ignore[call-arg]


def _while_held(engine: sa.Engine, sink: SmtpSink, then: Any) -> DispatchReport:
    """A real dispatcher run, one worker, whose message to a held address waits in the SMTP
    server's DATA while ``then()`` runs; then the server answers it, and takes the rest."""
    handler: HeldHandler = sink.handler  # type: ignore[assignment]
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(_send, engine, sink, concurrency=1)
        try:
            assert handler.holding.wait(30), f"the dispatcher never sent: {run}"
            then()
        finally:
            handler.hold.clear()
            handler.go.set()
        return run.result(60)


def _events(engine: sa.Engine, name: str) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.event == name)
                      .order_by(AuditEvent.seq)).all()  # fmt: skip
    return [json.loads(e.payload) for e in rows]


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(days=31)


def test_a_message_tried_at_the_old_address_follows_with_its_attempts_restarted(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sink: SmtpSink
) -> None:
    member, wrong, codes = one_due(engine, monkeypatch)
    tried = codes[0]
    sink.handler.defer.add(wrong)  # 451 at RCPT: to be retried
    assert _send(engine, sink).retried == 1
    before = _notices(engine, member)[tried]
    assert (before.status, before.attempts, before.address) == ("failed", 1, wrong)
    assert "451" in (before.last_error or "") and before.next_attempt_at > datetime.now(UTC)
    _correct(engine, tmp_path, wrong, FIXED)
    after = _notices(engine, member)
    assert {code: after[code].address for code in codes} == dict.fromkeys(codes, FIXED)
    moved = after[tried]
    assert (moved.attempts, moved.last_error) == (0, before.last_error)  # kept: it was tried
    assert moved.next_attempt_at <= datetime.now(UTC)  # due now: the back-off was the old one's
    _land_at_fixed(engine, sink, wrong, len(codes), [(wrong, FIXED, len(codes), 1)])


def test_a_message_held_by_a_dispatcher_during_the_import_follows_once_it_failed(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sink: SmtpSink
) -> None:
    """The import finds the notice in the dispatcher's hands (in the SMTP server's DATA) and
    leaves it; the server answers 451; the dispatcher records the failure, then sends the
    notice after the corrected address, its attempts started again."""
    member, wrong, codes = one_due(engine, monkeypatch)
    held, *waiting = codes
    sink.handler.hold.add(wrong)  # type: ignore[attr-defined]

    def correct() -> None:
        _correct(engine, tmp_path, wrong, FIXED)
        now = _notices(engine, member)
        assert (now[held].address, now[held].attempts) == (wrong, 0)  # leased: not moved
        assert {code: now[code].address for code in waiting} == dict.fromkeys(waiting, FIXED)

    assert _while_held(engine, sink, correct).retried == 1
    notice = _notices(engine, member)[held]
    assert (notice.status, notice.address, notice.attempts) == ("failed", FIXED, 0)
    assert "451" in (notice.last_error or "")
    _land_at_fixed(engine, sink, wrong, len(codes),
                   [(wrong, FIXED, len(waiting), 0), (wrong, FIXED, 1, 1)])  # fmt: skip


def test_a_tried_message_claimed_as_the_import_runs_follows_once_it_failed_again(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sink: SmtpSink
) -> None:
    """The notice refused 451 once is claimed for its retry by a real dispatcher, its claim
    held before it commits while the import corrects the address: the import waits for the
    row's lock, finds it leased and leaves it; the retry is refused at the old address again,
    and the dispatcher then sends it after the corrected one (PostgreSQL's row locks)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    member, wrong, codes = one_due(engine, monkeypatch)
    tried, *waiting = codes
    sink.handler.defer.add(wrong)
    assert _send(engine, sink).retried == 1
    retry_at = datetime.now(UTC) + timedelta(minutes=5)  # its back-off run out; the rest not due
    report = while_claim_held(
        engine, lambda pool: pool.submit(_correct, engine, tmp_path, wrong, FIXED),
        notify=LIVE, smtp=SmtpSettings(port=sink.port), now=retry_at,  # type: ignore[call-arg]
    )  # fmt: skip
    assert report.retried == 1  # refused at the old address: the claim came first
    notice = _notices(engine, member)[tried]
    assert (notice.address, notice.attempts, notice.status) == (FIXED, 0, "failed")
    _land_at_fixed(engine, sink, wrong, len(codes),
                   [(wrong, FIXED, len(waiting), 0), (wrong, FIXED, 1, 1)])  # fmt: skip


def _land_at_fixed(
    engine: sa.Engine, sink: SmtpSink, wrong: str, count: int, moved: list[tuple[Any, ...]]
) -> None:
    """The moves audited (old address, new, how many, how many tried) are ``moved``; every
    message then due is sent, ``count`` land at the corrected address and none at ``wrong``."""
    assert [(e["old_address"], e["address"], e["messages"], e["tried"])
            for e in _readdressed(engine)] == moved  # fmt: skip
    _send(engine, sink, now=_later())
    to = [r.rcpts for r in sink.handler.received]
    assert [wrong] not in to and to.count([FIXED]) == count


def _texts(received: list[Received]) -> list[str]:
    return ["\n".join(str(p.get_content()) for p in r.message.walk()
                      if p.get_content_maintype() == "text") for r in received]  # fmt: skip


@pytest.mark.parametrize("ending", [True, False], ids=["ended", "same-link"])
@pytest.mark.parametrize("outcome", ["failed", "sent"])
def test_a_relink_that_ends_the_link_while_the_earlier_relink_is_being_sent(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink, outcome: str,
    ending: bool,
) -> None:  # fmt: skip
    """The first run's 检查链接重新发送 is in the server's DATA when a coordinator ends the
    link (作废原链接并重新发送): the second run's message holds the new link and says the
    earlier one no longer opens. Sent, the member has both (the first's link dead, and said
    so); failed, the first is withdrawn once its failure is recorded, and the member gets
    the second alone, never the dead link. So too when the second run ends nothing (another
    coordinator, another reason, the key unchanged: the same link): failed, the first is
    withdrawn, and the member gets the link once."""
    _register_groups()
    cli = CliRunner()
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    member = team[0]
    with Session(engine) as s:
        address = s.get(Inspector, member).email  # type: ignore[union-attr]
    _relink(cli, member, code, CAUSES[0])
    (first,) = _reissued(engine, member, code)
    handler: HeldHandler = sink.handler  # type: ignore[assignment]
    handler.hold.add(address)
    handler.answer = "451 4.3.0 try again later" if outcome == "failed" else ""
    more = ("--end-old",) if ending else ()
    report = _while_held(engine, sink, lambda: _relink(cli, member, code, CAUSES[1], *more))
    # the second run's message is sent in the same run, after the first's answer
    assert (report.sent, report.retried) == ((1, 1) if outcome == "failed" else (2, 0))
    kept = _reissued(engine, member, code)
    second = kept[-1]
    assert (second.payload["link"] != first.payload["link"]) is ending
    assert (second.payload["earlier"] == "ended") is ending
    _send(engine, sink, now=_later())
    got = _texts([r for r in handler.received if r.rcpts == [address]])
    if outcome == "failed":
        assert [m.id for m in kept] == [second.id]  # the first withdrawn
        (event,) = _events(engine, "LinkMessageWithdrawn")
        assert (event["inspector_id"], event["credit_code"], event["attempts"]) == (
            member, code, 1)  # fmt: skip
        assert "451" in event["error"]
        assert len(got) == 1 and second.payload["link"] in got[0]
    else:
        assert [m.status for m in kept] == [NotificationStatus.sent] * 2
        assert len(got) == 2 and first.payload["link"] in got[0]
        assert second.payload["link"] in got[1]
    if ending:
        assert "已作废" in got[-1] and not any(first.payload["link"] in t for t in got[-1:])
