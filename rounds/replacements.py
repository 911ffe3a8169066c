"""A member of a drawn team replaced (docs/draw-algorithm.md §14).

An inspector who must leave a team after the draw (a conflict declared once the notice named
the enterprise, 回避; illness or another duty; a transfer) is withdrawn by a coordinator, with a
cause and a reason. The seat goes to the inspector §14 picks from the round's seed, its
committed frames and the teams as they stand (``draw.replace``); nobody chooses. In one
transaction: the seat's ``assignment`` row moves to the replacement (so the withdrawn
member's link to that enterprise stops opening it and the replacement's opens it), a
``team_change`` row and a ``MemberReplaced`` audit event record it, and the hooks queue the
replacement's 检查任务通知 (``after_replacement_hooks``; notifications installs one).

The seat keeps its due date, unless the coordinator gives the check a new one (``due_on``:
from today, in the bureau's time zone, to a year on). The check is the team's (one finding,
signed by all), so the new date is every seat's of the team, not the replacement's alone: a
team with one member's date gone is late (the escalations, ``notifications.outbox``), and so
would be the replacement's check with it. A seat whose date is gone is not handed on without
a new one: the replacement's notice would say 已过期 and the coordinator be told the check is
late the day it was given. The date given is in the ``team_change`` row and the audit event.
A seat handed on with its date at most :data:`SOON` working days away is not refused (the
replacement may be ready), but the answer says so, with a date to give the check instead
(``Replaced.due_soon``; ``rounds.redates`` gives it).

A team's date moved with no one withdrawn (``rounds.redates``) keeps the same rules by calling
the checks here (:func:`drawn_round`, :func:`refuse_final`, :func:`due_in_range`,
:func:`reason_given`, :func:`printable`) and shares :class:`Refused`.

A replacement is refused, and nothing written, when the round is not drawn, the inspector is
not on that team, the enterprise's finding already has a final version (its team signed it:
changing the team now would unmake it), no inspector is left to take the seat, or a due date
is given outside its range or needed and not given.

``rounds.team_changes`` reads them back: ``round verify`` and every bundle replay the round's
replacements on the recomputed draw (each recorded pick must be the one §14 gives, and the
teams stored must be the result) and compare each with its audit event.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col

from draw import core
from draw.replace import (
    CAUSES,
    ROUND_WIDE,
    NoReplacement,
    Replacement,
    TeamsNow,
    Withdrawal,
    pick_replacement,
)
from findings.deadlines import Calendar, add_working_days, working_days_left
from findings.models import FindingSignoff, FindingVersion
from findings.service import _locked_finding
from findings.settings import FindingsSettings
from findings.state import is_final
from registry.models import Conflict, Inspector, InspectorStatus
from rounds import audit, turns
from rounds.artifacts import load_inputs
from rounds.models import Assignment, DueChange, Round, RoundStatus, TeamChange
from rounds.service import check_texts
from rounds.team_changes import (
    MemberReplaced,
    enterprise_unit,
    iso,
    recorded,
    renamed,
    renamed_now,
)
from shuangsui.config import get_settings
from shuangsui.errors import IntegrityError, UserError
from shuangsui.text import NOTE_MAX, no_control
from shuangsui.writes import write

logger = logging.getLogger(__name__)

# a seat handed on with its date this many working days away, or fewer, is said to be near
# (the replacement has to reach the enterprise and check it); the date suggested instead is
# two working weeks on
SOON = 2
SUGGESTED = 10

AfterReplacement = Callable[[Session, str, "Replaced"], None]
after_replacement_hooks: list[AfterReplacement] = []


@dataclass(frozen=True)
class DueSoon:
    """A seat handed on with its date kept, and near: ``working_days`` working days from
    today to it (0: due today), on the calendar with 调休; ``suggested``: a date to give the
    check instead."""

    working_days: int
    suggested: date


@dataclass(frozen=True)
class Replaced:
    """What a replacement did: the record, and the team as it now stands."""

    replacement: Replacement
    team: tuple[str, ...]
    due_on: date  # the seat's due date: the withdrawn member's, or the one given
    note: str
    recorded_by: str
    # what the registry says now, and the committed frame the pick used could not: the
    # replacement retired, on leave in the window, or declared a conflict with the enterprise
    # since the commitment. Each is a reason to withdraw them too (a replacement of its own).
    cautions: tuple[str, ...] = ()
    due_moved: bool = False  # a new date given: every seat of the team has it now
    # withdrawn as ``unavailable`` or ``left``: the other enterprises of the round whose teams
    # the member still sits on (§14 withdraws from one team at a time; the same cause most
    # likely holds for each, and the coordinator withdraws them there too)
    still_on: tuple[str, ...] = ()
    due_soon: DueSoon | None = None  # the date kept, and near


class Refused(UserError):
    """A replacement refused, nothing written: ``kind`` says which refusal it is, for the
    pages and the API to answer it without reading the words (``api.replacements``)."""

    KINDS = (
        "cause", "note-missing", "note-long", "note-unprintable", "inspector-unprintable",
        "recorded-by-unprintable", "no-round", "not-drawn", "no-team", "not-on-team", "final",
        "no-one-left", "due-past", "due-far", "due-gone", "due-unreadable",
        # a new date on its own (``rounds.redates``), which shares the rest
        "reason-missing", "reason-long", "reason-unprintable", "due-same",
    )  # fmt: skip

    def __init__(self, kind: str, message: str) -> None:
        assert kind in self.KINDS, kind
        super().__init__(message)
        self.kind = kind


def replace_member(
    engine: Engine,
    round_key: str,
    credit_code: str,
    inspector_id: str,
    *,
    cause: str,
    note: str,
    recorded_by: str,
    due_on: date | None = None,  # a new date for the team's check; None: the seat keeps its own
    allowed: Callable[[Session], None] | None = None,  # the writer's token still current
    expected_due_on: date | None = None,
) -> Replaced:
    """Withdraw ``inspector_id`` from the team of ``credit_code`` in ``round_key`` and put
    the inspector §14 picks in the seat, the check due on ``due_on`` when given;
    :class:`UserError` naming why when refused. With ``due_on`` and ``expected_due_on``, only
    if the check is still due on ``expected_due_on`` (:class:`DueMoved` otherwise: a 延期 or
    another replacement moved it since its sender read it, and ``due_on`` would override a
    date they never saw); without ``due_on`` the seat keeps whatever date the team has."""
    if cause not in CAUSES:
        raise Refused("cause", f"cause: must be one of {', '.join(CAUSES)}, not {cause!r}")
    note = _note(note)
    today = bureau_today()
    if due_on is not None:
        due_in_range(due_on, today)
    printable(recorded_by=recorded_by, inspector=inspector_id)

    _parse_inputs_first(engine, round_key)

    def work(session: Session) -> Replaced:
        rnd = drawn_round(session, round_key, "only a drawn round's teams change")
        team = team_of(session, round_key, credit_code)
        if inspector_id not in team:
            raise Refused(
                "not-on-team" if team else "no-team",
                f"{inspector_id} is not on the team of {credit_code} in round {round_key}"
                + (f" (the team: {', '.join(team)})" if team else " (no such team)"),
            )
        refuse_final(session, round_key, credit_code, team)
        if due_on is not None and expected_due_on is not None:
            refuse_moved(session, round_key, credit_code, expected_due_on)
        kept = _seat(session, round_key, credit_code, inspector_id).due_on
        if due_on is None and kept < today:
            raise Refused(
                "due-gone",
                f"due_on: the seat's due date, {kept.isoformat()}, is gone (today is "
                f"{today.isoformat()}): give the check a new due date, from today to "
                f"{a_year_after(today).isoformat()}",
            )
        now = _teams_now(session, round_key)
        withdrawal = Withdrawal(now.count + 1, credit_code, team.index(inspector_id),
                                inspector_id, cause)  # fmt: skip
        inputs = load_inputs(session, round_key, rnd.entropy or [])
        try:
            chosen = _pick(rnd, inputs, now, withdrawal)
        except NoReplacement as exc:
            raise Refused("no-one-left", f"round {round_key}: {exc}") from None
        done = Replacement(withdrawal, chosen)
        _move_seat(session, round_key, withdrawal, chosen)
        if due_on is not None:
            date_the_check(session, round_key, credit_code, due_on)
        at = datetime.now(UTC)
        session.add(
            TeamChange(
                round_key=round_key,
                n=withdrawal.n,
                credit_code=credit_code,
                position=withdrawal.position,
                withdrawn=inspector_id,
                replacement=chosen,
                cause=cause,
                note=note,
                recorded_by=recorded_by,
                recorded_at=at,
                due_on=due_on,
            )  # fmt: skip
        )
        audit.add_to(
            session,
            round_key,
            MemberReplaced(
                withdrawal.n,
                credit_code,
                withdrawal.position,
                inspector_id,
                chosen,
                cause,
                note,
                recorded_by,
                iso(at),
                None if due_on is None else due_on.isoformat(),
            ),  # fmt: skip
        )
        now.apply(done)
        cautions = _cautions(session, chosen, credit_code, rnd)
        replaced = Replaced(
            done, tuple(now.teams[credit_code]), due_on or kept, note, recorded_by, cautions,
            due_moved=due_on is not None and due_on != kept,
            still_on=_still_on(now, inspector_id) if cause in ROUND_WIDE else (),
            due_soon=due_soon(kept, today) if due_on in (None, kept) else None,
        )  # fmt: skip
        for hook in after_replacement_hooks:
            hook(session, round_key, replaced)
        return replaced

    replaced = write(engine, work, what=f"replacement in round {round_key}", allowed=allowed)
    logger.info(
        "round %s: %s replaced by %s on the team of %s (%s)",
        round_key, inspector_id, replaced.replacement.replacement, credit_code, cause,
    )  # fmt: skip
    return replaced


def printable(**values: str) -> None:
    """Each of ``values`` (by its field's name) free of control characters: a name the audit
    log and the pages show as it is."""
    for name, value in values.items():
        try:
            no_control(value)
        except ValueError as exc:
            raise Refused(f"{name.replace('_', '-')}-unprintable", f"{name}: {exc}") from None


class DueMoved(Refused):
    """A move refused because the check's date is no longer the one its sender expected:
    ``due_on``, the date in force, and who set it (``set_by``, ``set_at``: the last 延期 or
    replacement that gave the team a date; None: the round's window's last day, as drawn)."""

    def __init__(
        self, credit_code: str, expected: date, due_on: date, set_by: str | None,
        set_at: datetime | None,
    ) -> None:  # fmt: skip
        by = (
            "the round's window's last day, as drawn" if set_by is None or set_at is None
            else f"set by {set_by} at {set_at.isoformat(timespec='seconds')}"
        )  # fmt: skip
        # a kind of its own, the 延期's only: not one of the replacements' shared refusals
        UserError.__init__(
            self,
            f"expected_due_on: the check of {credit_code} is due on {due_on.isoformat()} now, "
            f"not {expected.isoformat()} ({by}); nothing changed: read the date and send "
            "again if the new one still stands",
        )
        self.kind = "due-moved"
        self.expected, self.due_on, self.set_by, self.set_at = expected, due_on, set_by, set_at


def refuse_moved(session: Session, round_key: str, credit_code: str, expected: date) -> None:
    """:class:`DueMoved` when the check of ``credit_code`` is no longer due on ``expected``,
    the date its sender read (the round's row locked by the caller: a change that committed
    before is seen, one that starts after waits)."""
    now = due_now(session, round_key, credit_code)
    if now != expected:
        by, at = _set_by(session, round_key, credit_code)
        raise DueMoved(credit_code, expected, now, by, at)


def due_now(session: Session, round_key: str, credit_code: str) -> date:
    """The team's date as it stands (every seat has the same: the lead's is read)."""
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    return session.execute(
        sa.select(a.due_on)
        .where(a.round_key == round_key, a.credit_code == credit_code)
        .order_by(a.position)
        .limit(1)
    ).scalar_one()


def _set_by(
    session: Session, round_key: str, credit_code: str
) -> tuple[str | None, datetime | None]:
    """Who gave the team the date it has, and when: the last 延期 or replacement with a date
    (the round's row is locked: none is added meanwhile); (None, None) for the window's."""
    d = DueChange.__table__.c  # type: ignore[attr-defined]
    t = TeamChange.__table__.c  # type: ignore[attr-defined]
    given = sa.union_all(
        sa.select(d.recorded_by, d.recorded_at).where(
            d.round_key == round_key, d.credit_code == credit_code
        ),
        sa.select(t.recorded_by, t.recorded_at).where(
            t.round_key == round_key, t.credit_code == credit_code, t.due_on.is_not(None)
        ),
    ).subquery()
    last = session.execute(
        sa.select(given.c.recorded_by, given.c.recorded_at)
        .order_by(given.c.recorded_at.desc())
        .limit(1)
    ).first()
    return (None, None) if last is None else (last[0], last[1])


def drawn_round(session: Session, round_key: str, only: str) -> Round:
    """The round, locked for this change (the round's changes take it in turn), if it is
    drawn; refused otherwise (``only``: what only a drawn round allows). The turns of what
    builds on rounds come first (``rounds.turns``: a dispatcher's following of the messages
    this change writes again), before the round's row or any other."""
    turns.take(session.connection())
    rnd = session.get(Round, round_key, with_for_update=True)
    if rnd is None:
        raise Refused("no-round", _no_round(session, round_key))
    if rnd.status is not RoundStatus.drawn or rnd.seed is None:
        raise Refused("not-drawn", f"round {round_key} is {rnd.status.value}: {only}")
    return rnd


def _no_round(session: Session, round_key: str) -> str:
    """Why there is no round to change: none of that key, or a joint round's key, whose teams
    are drawn across bureaus and changed by each bureau's signed statement (``joint
    replace``, docs/draw-algorithm.md §13.7), not here."""
    from joint.models import JointRound  # joint builds on rounds: imported where it is used

    if session.get(JointRound, round_key) is not None:
        return (
            f"round {round_key!r} is a joint round: its teams are drawn across the bureaus "
            "taking part, and each bureau replaces its own member with `shuangsui joint "
            f"replace {round_key} CREDIT_CODE INSPECTOR --cause C --note TEXT` (a statement "
            "it signs, docs/draw-algorithm.md §13.7); its checks have no date here to move"
        )
    return f"round {round_key!r}: no such round"


def _still_on(now: TeamsNow, inspector_id: str) -> tuple[str, ...]:
    """The enterprises whose teams, as they now stand, still hold ``inspector_id``."""
    return tuple(sorted(code for code, team in now.teams.items() if inspector_id in team))


def _cautions(session: Session, inspector_id: str, credit_code: str, rnd: Round) -> tuple[str, ...]:
    """What the registry holds now against the replacement taking the seat (§14 picks on the
    frame as committed, so the bundle can redo it; the registry may have moved on since)."""
    said: list[str] = []
    person = session.get(Inspector, inspector_id)
    if person is None or person.status is not InspectorStatus.active:
        said.append("inactive")
    elif any(
        start <= rnd.window_end.isoformat() and end >= rnd.window_start.isoformat()
        for start, end in person.leave
    ):
        said.append("leave")
    if session.get(Conflict, (inspector_id, credit_code)) is not None:
        said.append("conflict")
    return tuple(said)


# what each caution means, for the command line and the pages
CAUTIONS = {
    "inactive": "is not active in the registry now",
    "leave": "is on leave during the round's window, as the registry says now",
    "conflict": "has a conflict with this enterprise declared in the registry",
}


def _parse_inputs_first(engine: Engine, round_key: str) -> None:
    """Parse the round's committed inputs before the write takes its lock: at 200,000
    enterprises the frame takes a second or two, which SQLite's write lock (every finding
    waits on it) need not cover. The write loads them again, from the parsed copy this
    process keeps while the stored bytes are the same (``rounds.artifacts.load_inputs``)."""
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        if rnd is not None and rnd.status is RoundStatus.drawn:
            load_inputs(session, round_key, rnd.entropy or [])


def _note(note: str) -> str:
    return reason_given(note, "note", "say why the member leaves the team")


def reason_given(text: str, field: str, asked: str) -> str:
    """A change's reason, as the audit log keeps it: given (``asked``: what to write), and a
    note as :func:`rounds.service.check_texts` takes one (at most :data:`NOTE_MAX` characters,
    no control or invisible character); refused under ``field``'s name otherwise."""
    text = text.strip()
    if not text:
        raise Refused(f"{field}-missing", f"{field}: {asked} (it is kept in the audit log)")
    try:
        check_texts(note=text)
    except UserError as exc:
        kind = "long" if len(text) > NOTE_MAX else "unprintable"
        raise Refused(f"{field}-{kind}", f"{field}: {str(exc).partition(': ')[2]}") from None
    return text


def team_of(session: Session, round_key: str, credit_code: str) -> list[str]:
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(a.inspector_id)
        .where(a.round_key == round_key, a.credit_code == credit_code)
        .order_by(a.position)
    )
    return [r[0] for r in rows]


def refuse_final(
    session: Session, round_key: str, credit_code: str, team: list[str],
    fixed: str = "its team can no longer change",
) -> None:  # fmt: skip
    """A version of the enterprise's finding signed by the whole team is final: the team that
    made it stays, and the check is done (``fixed``: what can no longer change)."""
    finding = _locked_finding(session, round_key, credit_code)  # a signature waits for this
    if finding is None:
        return
    signed: dict[int, set[str]] = {}
    rows = session.execute(
        sa.select(col(FindingVersion.version), col(FindingSignoff.inspector_id))
        .join(FindingSignoff, col(FindingSignoff.version_id) == col(FindingVersion.id))
        .where(col(FindingVersion.finding_id) == finding.id)
    )
    for version, inspector in rows:
        signed.setdefault(version, set()).add(inspector)
    final = sorted(v for v, who in signed.items() if is_final(team, who))
    if final:
        raise Refused(
            "final",
            f"the finding of {credit_code} in round {round_key} is final (version {final[-1]}, "
            f"signed by the whole team): {fixed}; record a correction instead",
        )


def _teams_now(session: Session, round_key: str) -> TeamsNow:
    """The round's teams and workloads as stored, and who its replacements keep off picks."""
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    teams: dict[str, list[str]] = {}
    loads: dict[str, int] = {}
    rows = session.execute(
        sa.select(a.credit_code, a.inspector_id)
        .where(a.round_key == round_key)
        .order_by(a.credit_code, a.position)
    )
    for code, inspector in rows:
        teams.setdefault(code, []).append(inspector)
        loads[inspector] = loads.get(inspector, 0) + 1
    now = TeamsNow(teams, loads)
    for change in recorded(session, round_key):
        w = change.withdrawal
        now.off_team.setdefault(w.credit_code, set()).add(w.withdrawn)
        if w.cause in ROUND_WIDE:
            now.off_round.add(w.withdrawn)
        now.count += 1
    return now


def _pick(rnd: Round, inputs: core.DrawInputs, now: TeamsNow, w: Withdrawal) -> str:
    """§14's pick on the committed inputs: on ids (version 1) or pseudonyms (version 2)."""
    enterprise = enterprise_unit(inputs, w.credit_code)
    seed = bytes.fromhex(rnd.seed or "")
    if inputs.version < 2:
        return pick_replacement(seed, inputs.plan, enterprise, inputs.inspectors,
                                inputs.conflicts, inputs.recent_pairs, now, w)  # fmt: skip
    names, back, inspectors, conflicts, recent = renamed(inputs)
    named = renamed_now(now, names)
    leaving = dataclasses.replace(w, withdrawn=names[w.withdrawn])
    chosen = pick_replacement(
        seed, inputs.plan, enterprise, inspectors, conflicts, recent, named, leaving
    )
    return back[chosen]


def bureau_today() -> date:
    """Today in the bureau's time zone: the day a due date is compared with (as the links'
    expiry and the pages compare it)."""
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def a_year_after(day: date) -> date:
    """The latest due date a replacement may give: the same day a year on (28 February for a
    29 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def due_soon(due_on: date, today: date) -> DueSoon | None:
    """``due_on`` as near as :data:`SOON` working days from ``today`` (the official calendar
    with 调休, and the bureau's own holidays for a year it lacks), with a date :data:`SUGGESTED`
    working days on to give instead; None when it is further (or gone: refused before)."""
    settings = FindingsSettings()
    calendar = Calendar.from_settings(settings.extra_holidays, settings.extra_workdays)
    left = working_days_left(today, due_on, calendar)
    if due_on < today or left > SOON:
        return None
    return DueSoon(left, add_working_days(today, SUGGESTED, calendar).day)


def due_in_range(due_on: date, today: date) -> None:
    """A new date for a check: not gone already, and not so far on that it reads as a slip
    (a year on at most: a round's check lasts weeks)."""
    if due_on < today:
        raise Refused(
            "due-past",
            f"due_on: {due_on.isoformat()} is before today ({today.isoformat()}); give a date "
            "from today on",
        )
    latest = a_year_after(today)
    if due_on > latest:
        raise Refused(
            "due-far",
            f"due_on: {due_on.isoformat()} is more than a year after today "
            f"({today.isoformat()}); give a date by {latest.isoformat()}",
        )


def _seat(session: Session, round_key: str, credit_code: str, inspector_id: str) -> Assignment:
    seat = session.get(Assignment, (round_key, credit_code, inspector_id))
    if seat is None:  # pragma: no cover - read in the same transaction a moment ago
        raise IntegrityError(f"the seat of {inspector_id} on {credit_code} vanished")
    return seat


def _move_seat(session: Session, round_key: str, w: Withdrawal, chosen: str) -> None:
    """The seat's assignment row to the replacement, its due date kept."""
    seat = _seat(session, round_key, w.credit_code, w.withdrawn)
    due_on = seat.due_on
    session.delete(seat)
    session.flush()  # the (round, enterprise, position) key is free before the new row
    session.add(Assignment(round_key=round_key, credit_code=w.credit_code, inspector_id=chosen,
                           position=w.position, due_on=due_on))  # fmt: skip
    session.flush()


def date_the_check(session: Session, round_key: str, credit_code: str, due_on: date) -> None:
    """Every seat of the team due on ``due_on``: the check is the team's, one date for all."""
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    session.execute(
        sa.update(Assignment.__table__)  # type: ignore[attr-defined]
        .where(a.round_key == round_key, a.credit_code == credit_code)
        .values(due_on=due_on)
    )
