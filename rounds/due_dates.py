"""The due dates of a round's checks as recorded (docs/draw-algorithm.md §14 "Due date"), and
their check: what ``round verify`` and every bundle (``rounds.bundle.recompute``) compare.

Every check of a drawn round is due on the window's last day; a team's date moves only with a
replacement that gives one (``team_change.due_on``, the ``MemberReplaced`` event) or with a
new date given on its own (延期: a ``due_change`` row and its ``DueDateMoved`` event,
``rounds.redates``). So every ``assignment`` row's date is the window's last day, or the date
its team was last given, in the order the audit log recorded them. A date rewritten in the
database (a late check made to look on time) is named, as a team stored against the rules is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rounds.models import Assignment, AuditEvent, DueChange, Round
from rounds.team_changes import MemberReplaced, iso
from shuangsui.errors import IntegrityError


@dataclass(frozen=True)
class DueDateMoved:
    """Audit event: the n-th new date given to a check of the round with no one withdrawn,
    the date it had until then, why and who recorded it."""

    n: int
    credit_code: str
    old_due_on: str  # ISO
    due_on: str  # ISO
    reason: str
    recorded_by: str
    recorded_at: str  # ISO, UTC, microseconds: the row's


def recorded_rows(
    session: Session, round_key: str, credit_code: str | None = None
) -> list[DueChange]:
    """The round's ``due_change`` rows (one enterprise's, with ``credit_code``) in order of
    ``n``."""
    stmt = select(DueChange).where(DueChange.round_key == round_key)
    if credit_code is not None:
        stmt = stmt.where(DueChange.credit_code == credit_code)
    return list(session.exec(stmt.order_by(col(DueChange.n))).all())


def event_of(row: DueChange) -> DueDateMoved:
    """The audit event a ``due_change`` row is recorded with (and must match)."""
    return DueDateMoved(
        row.n, row.credit_code, row.old_due_on.isoformat(), row.due_on.isoformat(), row.reason,
        row.recorded_by, iso(row.recorded_at),
    )  # fmt: skip


def check(session: Session, rnd: Round, events: Sequence[AuditEvent]) -> None:
    """The round's new dates against their audit events, then every assignment's date against
    what they say it must be (the chain checked; :class:`IntegrityError` naming the first
    difference)."""
    compare_events(rnd.round_key, recorded_rows(session, rnd.round_key), events)
    compare_assignments(session, rnd, dates_recorded(rnd, events))


def compare_events(round_key: str, rows: Sequence[DueChange], events: Sequence[AuditEvent]) -> None:
    """The ``due_change`` rows against the ``DueDateMoved`` events: the same changes, in the
    same order, with the same dates, reason, recorder and time (the coordinator's page and the
    API show them from the row)."""
    logged = [json.loads(e.payload) for e in events if e.event == DueDateMoved.__name__]
    if len(logged) != len(rows):
        raise IntegrityError(
            f"round {round_key}: {len(rows)} new due date(s) stored, {len(logged)} in the audit log"
        )
    for row, said in zip(rows, logged, strict=True):
        stored = dataclasses.asdict(event_of(row))
        want = {k: said.get(k) for k in stored}
        if want != stored:
            differ = ", ".join(k for k in stored if want[k] != stored[k])
            raise IntegrityError(
                f"round {round_key}: new due date {row.n} is stored as {stored}, the audit log "
                f"says {said} (differs: {differ})"
            )


def dates_recorded(rnd: Round, events: Sequence[AuditEvent]) -> dict[str, date]:
    """Each re-dated team's date (by credit code), the last given, in the log's order: a
    replacement's date, or a new date given on its own. A new date must say the date it
    replaced, as the record had it then (:class:`IntegrityError` if it does not)."""
    dates: dict[str, date] = {}
    for e in events:
        if e.event not in (MemberReplaced.__name__, DueDateMoved.__name__):
            continue
        said = json.loads(e.payload)
        code = said["credit_code"]
        if e.event == DueDateMoved.__name__:
            was = dates.get(code, rnd.window_end).isoformat()
            if said["old_due_on"] != was:
                raise IntegrityError(
                    f"round {rnd.round_key}: new due date {said['n']} of {code} says the check "
                    f"was due on {said['old_due_on']}, the record says {was} (differs: "
                    "old_due_on)"
                )
        if said.get("due_on"):  # a replacement without one kept the team's date
            dates[code] = date.fromisoformat(said["due_on"])
    return dates


def compare_assignments(session: Session, rnd: Round, dates: dict[str, date]) -> None:
    """Every assignment of the round due on its team's date as recorded: the window's last
    day, or the last date the team was given (``dates``)."""
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    stored = session.execute(
        sa.select(a.credit_code, a.inspector_id, a.due_on)
        .where(a.round_key == rnd.round_key)
        .order_by(a.credit_code, a.position)
    )
    for code, inspector, due_on in stored:
        want = dates.get(code, rnd.window_end)
        if due_on != want:
            source = "the date last given to the team" if code in dates else "the window's last day"
            raise IntegrityError(
                f"round {rnd.round_key}: the check of {code} by {inspector} is stored as due on "
                f"{due_on.isoformat()}, the record says {want.isoformat()} ({source}) (differs: "
                f"due_on {due_on.isoformat()} != {want.isoformat()})"
            )
