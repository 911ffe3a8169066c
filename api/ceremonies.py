"""A committed round's ceremony (摇号仪式), held in the database: the first ceremony recorded
for a committed, undrawn round is the round's until its hold ends, and a second one (other
digits or witnesses) meanwhile is refused at once, whichever process it comes to (two
``shuangsui serve`` behind one address, a draw run through the ``draw-round`` deployment).

The hold is the audit log's own entry of the ceremony (``CeremonyEntered``, or
``AdhocRequested`` step ``ceremony``, with ``offered_sha256``: the SHA-256 of what was offered,
as ``DrawRefused`` names it), written under the round's lock (PostgreSQL: its row ``FOR
UPDATE``; SQLite: the database's write lock) once no live hold is found; a refused one is
audited there too (``CeremonyRefused``). A hold ends when the round is drawn or failed
(``DrawMade``, ``DrawFailed``), when its draw's failure is recorded (``DrawNotRecorded``,
``EntropyAwaited``, or ``CeremonyEnded``: the runner did not start the run, or the run in this
process ended without a draw), or :data:`HOLD` after it was entered: a process that died, a
deployment run crashed, cancelled or never picked up records nothing, and a later ceremony may
then take the round. The draw's own refusal (``rounds.service``: ``DrawAlreadyMade``) stays
the last guard: of two runs that both reach the draw, one draws and the other is refused."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from draw.canonical import canonical_json, sha256_hex
from rounds import audit
from rounds.models import AuditEvent, Round, RoundStatus
from shuangsui import writes
from workspace.events import AdhocRequested, CeremonyEnded, CeremonyEntered, CeremonyRefused

# How long a ceremony holds its round with no draw and no failure recorded. A draw at 200,000
# enterprises takes seconds (docs/benchmarks.md); a deployment run waits for its worker first.
HOLD = dt.timedelta(minutes=15)
# the entries that end whatever ceremony holds the round (the draw's own)
ENDS = frozenset({"DrawMade", "DrawFailed", "DrawNotRecorded", "EntropyAwaited"})


def offered_sha256(digits: str, witnesses: Sequence[str]) -> str:
    """What a ceremony offered, as ``rounds.service`` names a refused one in ``DrawRefused``."""
    offered = {"witness_digits": digits, "witnesses": list(witnesses), "reveal": None}
    return sha256_hex(canonical_json(offered))


@dataclass(frozen=True)
class Ceremony:
    """A ceremony entered for a round: who entered its digits (on the round's page or by the
    API; "" when not recorded: a round drawn by the command or a flow) and when (UTC), and
    when the round was drawn with it (None: not drawn yet)."""

    requested_by: str
    at: dt.datetime | None
    drawn_at: dt.datetime | None = None
    offered: str = field(default="", repr=False)  # offered_sha256: to tell a retry

    def problem(self, round_key: str) -> dict[str, Any]:
        """How the API's 409 says it: ``detail``, ``entered_by``, ``entered_at``, ``drawn_at``."""
        at, drawn_at = (d.isoformat(timespec="seconds") if d else None
                        for d in (self.at, self.drawn_at))  # fmt: skip
        who = f"{self.requested_by} entered at {at}" if self.requested_by else "entered before"
        if drawn_at:
            detail = (f"round {round_key} was drawn at {drawn_at} with the ceremony {who}; "
                      "these digits were not used (a round key has exactly one draw) and the "
                      "attempt is in the audit log")  # fmt: skip
        else:
            detail = (f"round {round_key} is being drawn with the ceremony {who}; these digits "
                      "will not be used (a round key has exactly one draw) and the attempt is "
                      "in the audit log")  # fmt: skip
        return {"detail": detail, "entered_by": self.requested_by, "entered_at": at,
                "drawn_at": drawn_at}  # fmt: skip


@dataclass(frozen=True)
class Hold:
    """The round's last ceremony as its page tells it: ``live`` (being drawn), or why it no
    longer holds the round while the round is still undrawn: ``error`` (its run's failure
    recorded) or expired (:data:`HOLD` passed with nothing recorded)."""

    ceremony: Ceremony
    live: bool
    error: str = ""


def is_entry(event: AuditEvent) -> bool:
    """An entry of a ceremony's digits (the round's page's, the API's): who entered them."""
    if event.event == CeremonyEntered.__name__:
        return True
    return event.event == AdhocRequested.__name__ and '"step":"ceremony"' in event.payload


def last_hold(events: Sequence[AuditEvent], now: dt.datetime) -> Hold | None:
    """The round's last ceremony entered (``events``: the round's, in order) and whether it
    holds the round at ``now``; None when none was entered or the draw ended it."""
    hold: Hold | None = None
    for e in events:
        if is_entry(e):
            said = json.loads(e.payload)
            hold = Hold(Ceremony(said["by"], utc(e.at), offered=said.get("offered_sha256", "")),
                        live=True)  # fmt: skip
        elif e.event in ENDS:
            hold = None
        elif e.event == CeremonyEnded.__name__ and hold is not None:
            said = json.loads(e.payload)
            if said["offered_sha256"] == hold.ceremony.offered:
                hold = Hold(hold.ceremony, live=False, error=said["error"] or "—")
    if hold is not None and hold.live and hold.ceremony.at and now - hold.ceremony.at >= HOLD:
        return Hold(hold.ceremony, live=False)
    return hold


def hold_of(engine: Engine, round_key: str) -> Hold | None:
    """The round's last ceremony, for its page (:func:`last_hold`), while it is undrawn."""
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        if rnd is None or rnd.status is not RoundStatus.committed:
            return None
        events = audit.round_events(session, round_key)
    return last_hold(events, dt.datetime.now(dt.UTC))


DRAWN = Ceremony("", None)  # take: the round is not committed (drawn, failed): not held here


def take(engine: Engine, round_key: str, entry: object, offered: str) -> Ceremony | None:
    """Take the round's ceremony for ``entry`` (its audit entry, offering ``offered``): None
    when taken (the entry recorded; or a retry of the live ceremony, recorded before); the
    live ceremony of other digits, this one's refusal audited (``CeremonyRefused``); or
    :data:`DRAWN` when the round is no longer committed (nothing written: the caller asks
    the draw, which refuses other digits and audits it)."""
    by = str(getattr(entry, "by", ""))

    def work(session: Session) -> Ceremony | None:
        rnd = session.get(Round, round_key, with_for_update=True)  # SQLite: its write lock
        if rnd is not None and rnd.status is not RoundStatus.committed:
            return DRAWN
        now = dt.datetime.now(dt.UTC)
        hold = last_hold(audit.round_events(session, round_key), now) if rnd else None
        if hold is not None and hold.live:
            if hold.ceremony.offered == offered:
                return None  # the same ceremony again
            first = hold.ceremony
            at = first.at.isoformat() if first.at else ""
            audit.add_to(session, round_key, CeremonyRefused(by, offered, first.requested_by, at))
            return first
        audit.add_to(session, round_key, entry)
        return None

    return writes.write(engine, work, what=f"the ceremony of round {round_key}")


def end(engine: Engine, round_key: str, offered: str, by: str, error: str) -> None:
    """Record that the ceremony offering ``offered`` will not draw the round (its run was not
    started, or ended without a draw: ``error``), if it still holds the undrawn round, so a
    later ceremony may take it at once."""

    def work(session: Session) -> None:
        rnd = session.get(Round, round_key, with_for_update=True)
        if rnd is None or rnd.status is not RoundStatus.committed:
            return
        hold = last_hold(audit.round_events(session, round_key), dt.datetime.now(dt.UTC))
        if hold is not None and hold.live and hold.ceremony.offered == offered:
            audit.add_to(session, round_key, CeremonyEnded(by, offered, error[:500]))

    writes.write(engine, work, what=f"the end of round {round_key}'s ceremony")


def utc(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)
