"""A committed round's ceremony (摇号仪式), held in the database: the first ceremony recorded
for a committed, undrawn round is the round's until its hold ends, and a second one (other
digits or witnesses) meanwhile is refused at once, whichever process it comes to (two
``shuangsui serve`` behind one address, a draw run through the ``draw-round`` deployment).

The hold is the audit log's own entry of the ceremony (``CeremonyEntered``, or
``AdhocRequested`` step ``ceremony``, or ``DrawCommandEntered`` for ``shuangsui round draw``,
which holds the round while it draws, with ``offered_sha256``: the SHA-256 of what was offered,
as ``DrawRefused`` names it), written under the round's lock (PostgreSQL: its row ``FOR
UPDATE``; SQLite: the database's write lock) once no live hold is found; a refused one is
audited there too (``CeremonyRefused``). A hold ends when the round is drawn or failed
(``DrawMade``, ``DrawFailed``), when its draw's failure is recorded (``DrawNotRecorded``,
``EntropyAwaited``, or ``CeremonyEnded``: the runner did not start the run, the run in this
process ended without a draw, or the deployment's run was found in a final state with no
draw), or :data:`HOLD` after it was entered: a process that died records nothing, and a later
ceremony may then take the round; but a ``round draw`` whose process is provably gone on this
host (:class:`Process`: killed mid-draw) holds nothing, and a ceremony or ``round draw`` may
take the round at once, its hold ended first (``CeremonyEnded`` saying so). A deployment's
run is recorded with its hold (``CeremonyRunCreated``): a later ceremony, ``shuangsui round
draw``, the round's page and ``GET /rounds/{key}`` ask Prefect how it is (:func:`settle`;
Prefect not answering keeps the rule of :data:`HOLD`). The draw's own refusal
(``rounds.service``: ``DrawAlreadyMade``) stays the last guard: of two runs that both reach the
draw, one draws and the other is refused."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from draw.canonical import canonical_json, sha256_hex
from rounds import audit
from rounds.models import AuditEvent, Round, RoundStatus
from shuangsui import writes
from workspace.events import (
    AdhocRequested,
    CeremonyEnded,
    CeremonyEntered,
    CeremonyRefused,
    CeremonyRunCreated,
    DrawCommandEntered,
)

# How long a ceremony holds its round with no draw and no failure recorded. A draw at 200,000
# enterprises takes seconds (docs/benchmarks.md); a deployment run waits for its worker first.
HOLD = dt.timedelta(minutes=15)
# the entries that end whatever ceremony holds the round (the draw's own)
ENDS = frozenset({"DrawMade", "DrawFailed", "DrawNotRecorded", "EntropyAwaited"})
# Prefect's final states of a flow run: a run in one of them will never draw
FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
# a flow run's id -> its state's type as Prefect says it (``CANCELLED``), or None when Prefect
# did not answer (``api.runs.run_state``: bounded by a short timeout)
RunState = Callable[[str], "str | None"]


def offered_sha256(digits: str, witnesses: Sequence[str]) -> str:
    """What a ceremony offered, as ``rounds.service`` names a refused one in ``DrawRefused``."""
    offered = {"witness_digits": digits, "witnesses": list(witnesses), "reveal": None}
    return sha256_hex(canonical_json(offered))


@dataclass(frozen=True)
class Process:
    """A process as ``round draw`` records it with its hold: its host's name, its pid, and
    ``mark``: the host's boot (``/proc/sys/kernel/random/boot_id``), its PID namespace and the
    process's start (clock ticks after the boot, ``/proc/<pid>/stat``'s 22nd field), "" where
    there is no ``/proc`` to read them. A pid alone says nothing once the process is gone: the
    kernel gives it to the next one; with its start, a pid taken again is another process."""

    host: str
    pid: int
    mark: str

    def gone(self) -> bool:
        """Whether this process is provably gone: recorded on this host, this boot and this PID
        namespace, and no process with its pid and start runs (or it is a zombie, killed and
        not yet reaped). False whenever that cannot be known: another host (a hold from there
        keeps its :data:`HOLD`), a reboot or a container of the same name, no ``/proc``."""
        here = this_process()
        if not self.mark or not here.mark or self.host != here.host:
            return False
        boot, namespace, _ = self.mark.split("|", 2)
        if here.mark.split("|", 2)[:2] != [boot, namespace]:
            return False
        started = _started(self.pid)
        return started is None or f"{boot}|{namespace}|{started}" != self.mark

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}"


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after the boot), or None when it is gone (no
    such process, or a zombie: it ran its course and is only waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
    return None if fields[0] in ("Z", "X") else fields[19]  # state (3rd), starttime (22nd)


def this_process() -> Process:
    """This process, as :class:`Process` records it."""
    host, pid = socket.gethostname(), os.getpid()
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return Process(host, pid, "")
    started = _started(pid)
    return Process(host, pid, f"{boot}|{namespace}|{started}" if started else "")


def process_of(said: dict[str, Any]) -> Process | None:
    """The process a ``DrawCommandEntered`` entry records (None before they were recorded)."""
    if not said.get("process"):
        return None
    return Process(str(said.get("host", "")), int(said.get("pid", 0)), str(said["process"]))


@dataclass(frozen=True)
class Ceremony:
    """A ceremony entered for a round: who entered its digits (on the round's page or by the
    API; who ran ``shuangsui round draw``, ``by_command``; "" when not recorded: a round drawn
    by a flow or by the command before it held the round) and when (UTC), and when the round
    was drawn with it (None: not drawn yet)."""

    requested_by: str
    at: dt.datetime | None
    drawn_at: dt.datetime | None = None
    offered: str = field(default="", repr=False)  # offered_sha256: to tell a retry
    by_command: bool = False  # ``shuangsui round draw`` holding the round while it draws
    process: Process | None = None  # by_command: its process, when recorded

    def problem(self, round_key: str) -> dict[str, Any]:
        """How the API's 409 says it: ``detail``, ``entered_by``, ``entered_at``, ``drawn_at``."""
        at, drawn_at = (d.isoformat(timespec="seconds") if d else None
                        for d in (self.at, self.drawn_at))  # fmt: skip
        who = f"{self.requested_by} entered at {at}" if self.requested_by else "entered before"
        if self.by_command and not drawn_at:
            detail = (f"round {round_key} is being drawn by `shuangsui round draw`, run by "
                      f"{self.requested_by} at {at}; these digits will not be used (a round "
                      "key has exactly one draw) and the attempt is in the audit log")  # fmt: skip
        elif drawn_at:
            detail = (f"round {round_key} was drawn at {drawn_at} with the ceremony {who}; "
                      "these digits were not used (a round key has exactly one draw) and the "
                      "attempt is in the audit log")  # fmt: skip
        else:
            detail = (f"round {round_key} is being drawn with the ceremony {who}; these digits "
                      "will not be used (a round key has exactly one draw) and the attempt is "
                      "in the audit log")  # fmt: skip
        return {"detail": detail, "entered_by": self.requested_by, "entered_at": at,
                "drawn_at": drawn_at, "by_command": self.by_command}  # fmt: skip


@dataclass(frozen=True)
class Hold:
    """The round's last ceremony as its page tells it: ``live`` (being drawn), or why it no
    longer holds the round while the round is still undrawn: ``error`` (its run's failure
    recorded) or expired (:data:`HOLD` passed with nothing recorded)."""

    ceremony: Ceremony
    live: bool
    error: str = ""
    run_id: str = ""  # the deployment's flow run drawing it (``CeremonyRunCreated``)
    run_state: str = ""  # the final state its run was found in (``CeremonyEnded``)


def is_entry(event: AuditEvent) -> bool:
    """An entry of a ceremony's digits (the round's page's, the API's, ``round draw``'s): who
    entered them."""
    if event.event in (CeremonyEntered.__name__, DrawCommandEntered.__name__):
        return True
    return event.event == AdhocRequested.__name__ and '"step":"ceremony"' in event.payload


def last_hold(events: Sequence[AuditEvent], now: dt.datetime) -> Hold | None:
    """The round's last ceremony entered (``events``: the round's, in order) and whether it
    holds the round at ``now``; None when none was entered or the draw ended it."""
    hold: Hold | None = None
    for e in events:
        if is_entry(e):
            said = json.loads(e.payload)
            by_command = e.event == DrawCommandEntered.__name__
            offered = said.get("offered_sha256", "")
            process = process_of(said) if by_command else None
            hold = Hold(Ceremony(said["by"], utc(e.at), offered=offered, by_command=by_command,
                                 process=process), live=True)  # fmt: skip
        elif e.event in ENDS:
            hold = None
        elif e.event == CeremonyRunCreated.__name__ and hold is not None and hold.live:
            said = json.loads(e.payload)
            if said["offered_sha256"] == hold.ceremony.offered:
                hold = replace(hold, run_id=said["flow_run_id"])
        elif e.event == CeremonyEnded.__name__ and hold is not None:
            said = json.loads(e.payload)
            if said["offered_sha256"] == hold.ceremony.offered:
                hold = replace(hold, live=False, error=said["error"] or "—",
                               run_state=said.get("run_state", ""))  # fmt: skip
    if hold is not None and hold.live and hold.ceremony.at and now - hold.ceremony.at >= HOLD:
        return Hold(hold.ceremony, live=False)
    return hold


def hold_of(engine: Engine, round_key: str, run_state: RunState | None = None) -> Hold | None:
    """The round's last ceremony, for its page (:func:`last_hold`), while it is undrawn; with
    ``run_state``, its deployment run asked first (:func:`settle`). A ``round draw`` whose
    process is gone (:func:`gone`) no longer holds it."""
    if run_state is not None:
        settle(engine, round_key, run_state)
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        if rnd is None or rnd.status is not RoundStatus.committed:
            return None
        events = audit.round_events(session, round_key)
    hold = last_hold(events, dt.datetime.now(dt.UTC))
    if hold is not None and hold.live and (why := gone(hold.ceremony)):
        return replace(hold, live=False, error=why)
    return hold


def gone(ceremony: Ceremony) -> str:
    """Why a ``round draw`` holding the round no longer does: its process is provably gone on
    this host (:meth:`Process.gone`); "" for any other ceremony, or a process that may run."""
    process = ceremony.process
    if not ceremony.by_command or process is None or not process.gone():
        return ""
    return f"the `shuangsui round draw` {process} is gone (killed, or ended unrecorded)"


DRAWN = Ceremony("", None)  # take: the round is not committed (drawn, failed): not held here


@dataclass(frozen=True)
class Took:
    """What :func:`take` found under the round's lock: ``refused_by``, the ceremony holding the
    round instead (its refusal audited), or :data:`DRAWN`; else the round is this ceremony's:
    taken now (``again`` None), or already, these digits being the live ceremony's own
    (``again``: that ceremony, entered before: a retry, or ``round draw`` given them).
    ``taken_over``: taken now from a ``round draw`` whose process is gone (:func:`gone`)."""

    refused_by: Ceremony | None = None
    again: Ceremony | None = None
    taken_over: Ceremony | None = None


def take(
    engine: Engine, round_key: str, entry: AdhocRequested | CeremonyEntered | DrawCommandEntered,
    offered: str,
) -> Took:  # fmt: skip
    """Take the round's ceremony for ``entry`` (its audit entry, offering ``offered``, entered
    by ``entry.by``): the entry recorded, unless the live ceremony is of other digits (this
    one's refusal audited, ``CeremonyRefused``) or these (a retry: nothing written), or the
    round is no longer committed (:data:`DRAWN`, nothing written: the caller asks the draw,
    which refuses other digits and audits it) or does not exist (nothing written). A live
    ``round draw`` whose process is gone (:func:`gone`) is taken over: its hold ended
    (``CeremonyEnded``, naming the process and who took the round), then this entry recorded.
    Under the round's lock: of two takers at once, the second finds the first's hold."""

    def work(session: Session) -> Took:
        rnd = session.get(Round, round_key, with_for_update=True)  # SQLite: its write lock
        if rnd is None:
            return Took()  # nothing to hold: the caller's draw says there is no such round
        if rnd.status is not RoundStatus.committed:
            return Took(refused_by=DRAWN)
        hold = last_hold(audit.round_events(session, round_key), dt.datetime.now(dt.UTC))
        if hold is not None and hold.live and (why := gone(hold.ceremony)):
            first = hold.ceremony
            error = f"{why}; {entry.by} took the round"
            audit.add_to(session, round_key, CeremonyEnded(first.requested_by, first.offered,
                                                           error[:500]))  # fmt: skip
            audit.add_to(session, round_key, entry)
            return Took(taken_over=first)
        if hold is not None and hold.live:
            first = hold.ceremony
            if first.offered == offered:
                return Took(again=first)  # the same ceremony again
            at = first.at.isoformat() if first.at else ""
            refused = CeremonyRefused(entry.by, offered, first.requested_by, at,
                                      by_command=first.by_command)  # fmt: skip
            audit.add_to(session, round_key, refused)
            return Took(refused_by=first)
        audit.add_to(session, round_key, entry)
        return Took()

    return writes.write(engine, work, what=f"the ceremony of round {round_key}")


def settle(engine: Engine, round_key: str, run_state: RunState) -> None:
    """End the live hold of the round whose deployment run Prefect says is in a final state
    (:data:`FINAL`: cancelled before a worker took it, crashed, failed, or completed) while
    the round is still undrawn: ``CeremonyEnded`` with the run's state, so a later ceremony may
    take the round at once. Prefect is asked outside the round's lock, before the round is read
    under it: a run that drew records its draw before it completes. Prefect not answering
    (None) ends nothing: the hold lasts its :data:`HOLD` as before."""
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        if rnd is None or rnd.status is not RoundStatus.committed:
            return
        hold = last_hold(audit.round_events(session, round_key), dt.datetime.now(dt.UTC))
    if hold is None or not hold.live or not hold.run_id:
        return
    state = run_state(hold.run_id)
    if state not in FINAL:
        return
    error = f"flow run {hold.run_id} of the draw-round deployment ended {state} with no draw"
    first = hold.ceremony
    end(engine, round_key, first.offered, first.requested_by, error, run_state=state)


def record_run(engine: Engine, round_key: str, offered: str, by: str, flow_run_id: str) -> None:
    """Record the deployment's flow run that draws the ceremony offering ``offered``
    (``CeremonyRunCreated``), while that ceremony holds the undrawn round and that run is not
    recorded for it yet (a retry is answered with the same run)."""
    run = CeremonyRunCreated(by, offered, flow_run_id)
    _while_held(engine, round_key, offered, lambda hold: None if hold.run_id == flow_run_id
                else run, what=f"the run of round {round_key}'s ceremony")  # fmt: skip


def end(
    engine: Engine, round_key: str, offered: str, by: str, error: str, run_state: str = ""
) -> None:
    """Record that the ceremony offering ``offered`` will not draw the round (its run was not
    started, or ended without a draw: ``error``; ``run_state``, its deployment run's final
    state), if it still holds the undrawn round, so a later ceremony may take it at once."""
    ended = CeremonyEnded(by, offered, error[:500], run_state)
    _while_held(engine, round_key, offered, lambda hold: ended,
                what=f"the end of round {round_key}'s ceremony")  # fmt: skip


def _while_held(
    engine: Engine, round_key: str, offered: str, event: Callable[[Hold], object], what: str
) -> None:
    """Append ``event(hold)`` (None: nothing) to the round's audit log under the round's lock,
    if the ceremony offering ``offered`` still holds the undrawn round."""

    def work(session: Session) -> None:
        rnd = session.get(Round, round_key, with_for_update=True)
        if rnd is None or rnd.status is not RoundStatus.committed:
            return
        hold = last_hold(audit.round_events(session, round_key), dt.datetime.now(dt.UTC))
        if hold is not None and hold.live and hold.ceremony.offered == offered:
            if (made := event(hold)) is not None:
                audit.add_to(session, round_key, made)

    writes.write(engine, work, what=what)


def utc(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)
