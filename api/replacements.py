"""A coordinator replaces a member of a drawn team, or gives a team's check a new date with
no one withdrawn, and lists a round's replacements and new dates (docs/draw-algorithm.md
§14; the services are ``rounds.replacements`` and ``rounds.redates``, which share the
refusals).

The body names who leaves and why, and may give the team's check a new due date (needed when
the seat's own is gone); the seat goes to the inspector the round's seed picks, so nothing in
the request can choose the replacement. The service refuses with a one-line
:class:`rounds.replacements.Refused` of a kind; :func:`refused` maps the kind to its answer
(the workspace's enterprise page says the same refusals in Chinese, by the same kind), as the
API answers any refusal: 409 for the state of the round or the team, 422 for what the body
says, naming the field either way. A body with a field given twice, or a date that is not a
day written YYYY-MM-DD, is refused before the service sees it (``api.bodies``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from sqlmodel import Session

from api.auth import Principal, Role, allow, still_allowed
from api.bodies import Day, OnceEachKey
from api.problems import PROBLEM_RESPONSES, Problem
from draw.replace import CAUSES
from rounds import due_dates
from rounds.models import DueChange, Round, TeamChange
from rounds.redates import move_due_date
from rounds.replacements import NOTE_MAX, DueMoved, Refused, replace_member
from rounds.team_changes import recorded_rows
from shuangsui.errors import Conflict, UserError
from shuangsui.keys import RoundKey

logger = logging.getLogger(__name__)
router = APIRouter(tags=["coordinator"], responses=PROBLEM_RESPONSES)
Coordinator = Annotated[Principal, Depends(allow(Role.coordinator))]
CreditCode = Annotated[
    str, PathParam(pattern="^[0-9A-HJ-NPQRTUWXY]{18}$", description="统一社会信用代码")
]


def _cause(value: str) -> str:
    if value not in CAUSES:
        raise ValueError(f"must be one of {', '.join(CAUSES)}")
    return value


Cause = Annotated[
    str,
    AfterValidator(_cause),
    WithJsonSchema({"type": "string", "enum": list(CAUSES)}),
]


class ReplacementIn(BaseModel):
    """Who leaves the team, and why (the cause is public in the round's bundles; the note is
    kept in the audit log)."""

    model_config = ConfigDict(extra="forbid")

    inspector_id: str = Field(min_length=1, max_length=64, description="the member who leaves")
    cause: Cause = Field(
        description="conflict (回避), unavailable (不能到场: illness, another duty) or left (调离)"
    )
    note: str = Field(min_length=1, max_length=NOTE_MAX, description="why (audited)")
    due_on: Day | None = Field(
        default=None,
        description="a new due date for the team's check (every member's), from today in the "
        "bureau's time zone to a year on; needed when the seat's own date is gone; absent: "
        "the seats keep theirs (audited, not in the bundles)",
    )
    expected_due_on: Day | None = Field(
        default=None,
        description="with ``due_on``: the date the client read as the check's date now; the "
        "replacement is made only if it still is, else 409 naming the date in force and who "
        "set it (another coordinator moved it meanwhile, and ``due_on`` would override it); "
        "absent, or without ``due_on``: whatever date the check has",
    )


class RedateIn(BaseModel):
    """The team's check's new date, and why (kept in the audit log, not in the bundles)."""

    model_config = ConfigDict(extra="forbid")

    due_on: Day = Field(
        description="the check's new date, every member's: from today in the bureau's time "
        "zone to a year on, and not the date it has now"
    )
    reason: str = Field(min_length=1, max_length=NOTE_MAX, description="why (audited)")
    expected_due_on: Day | None = Field(
        default=None,
        description="the date the client read as the check's date now (the listing's or a "
        "change's ``due_on``): the move is made only if it still is, else 409 naming the date "
        "in force and who set it (another coordinator moved it meanwhile); absent: whatever "
        "date the check has",
    )


@dataclass(frozen=True)
class Refusal:
    """Which refusal of ``rounds.replacements`` a message is: its ``kind``, the status the API
    answers, the input at fault (``body.note``, ``path.credit_code``)."""

    kind: str
    status: int
    field: str


# each kind of refusal of the service (``rounds.replacements.Refused``): the status the API
# answers and the input at fault
REFUSALS = {
    "cause": Refusal("cause", 422, "body.cause"),
    "note-missing": Refusal("note-missing", 422, "body.note"),
    "note-long": Refusal("note-long", 422, "body.note"),
    "note-unprintable": Refusal("note-unprintable", 422, "body.note"),
    "inspector-unprintable": Refusal("inspector-unprintable", 422, "body.inspector_id"),
    "recorded-by-unprintable": Refusal("recorded-by-unprintable", 422, "recorded_by"),
    "no-round": Refusal("no-round", 404, "path.round_key"),
    "not-drawn": Refusal("not-drawn", 409, "path.round_key"),
    "no-team": Refusal("no-team", 404, "path.credit_code"),
    "not-on-team": Refusal("not-on-team", 409, "body.inspector_id"),
    "final": Refusal("final", 409, "path.credit_code"),
    "no-one-left": Refusal("no-one-left", 409, "body.inspector_id"),
    "due-past": Refusal("due-past", 422, "body.due_on"),
    "due-far": Refusal("due-far", 422, "body.due_on"),
    "due-gone": Refusal("due-gone", 422, "body.due_on"),
    "due-unreadable": Refusal("due-unreadable", 422, "body.due_on"),  # the page's field only
    "reason-missing": Refusal("reason-missing", 422, "body.reason"),
    "reason-long": Refusal("reason-long", 422, "body.reason"),
    "reason-unprintable": Refusal("reason-unprintable", 422, "body.reason"),
    "due-same": Refusal("due-same", 422, "body.due_on"),
}
RACED = Refusal("raced", 409, "")  # shuangsui.writes gave up after too many collisions
MOVED = Refusal("due-moved", 409, "body.expected_due_on")  # rounds.replacements.DueMoved
UNREAD = Refusal("other", 422, "")


def refused(exc: UserError) -> Refusal:
    """Which refusal ``exc`` is, by its kind (:data:`UNREAD` for a refusal from elsewhere:
    the log keeps it)."""
    if isinstance(exc, Conflict):
        return RACED
    if isinstance(exc, DueMoved):
        return MOVED
    if isinstance(exc, Refused):
        return REFUSALS[exc.kind]
    logger.warning("a replacement refused for a reason not read here: %s", exc)
    return UNREAD


def change_json(row: TeamChange) -> dict[str, Any]:
    """A replacement as the API gives it: §14's record, why, who recorded it and when."""
    return {
        "n": row.n,
        "credit_code": row.credit_code,
        "position": row.position,
        "withdrawn": row.withdrawn,
        "replacement": row.replacement,
        "cause": row.cause,
        "note": row.note,
        "recorded_by": row.recorded_by,
        "recorded_at": row.recorded_at.isoformat(),
        "due_on": None if row.due_on is None else row.due_on.isoformat(),
    }


def redate_json(row: DueChange) -> dict[str, Any]:
    """A new date given to a team's check on its own: the dates, why, who and when."""
    return {
        "n": row.n,
        "credit_code": row.credit_code,
        "old_due_on": row.old_due_on.isoformat(),
        "due_on": row.due_on.isoformat(),
        "reason": row.reason,
        "recorded_by": row.recorded_by,
        "recorded_at": row.recorded_at.isoformat(),
    }


def _changes(request: Request, round_key: str) -> list[TeamChange]:
    """The round's replacements in order of ``n``; 404 for a round that does not exist."""
    with Session(request.app.state.engine) as session:
        _known(session, round_key)
        return recorded_rows(session, round_key)


def _known(session: Session, round_key: str) -> None:
    if session.get(Round, round_key) is None:
        raise Problem(404, f"round {round_key} does not exist", slug="not-found")


def _problem(exc: UserError, slug: str) -> Problem:
    """A refusal of the services as the API answers it, naming the field at fault."""
    r = refused(exc)
    errors = [{"field": r.field, "reason": str(exc)}] if r.field else None
    return Problem(r.status, str(exc), slug=f"{slug}-{r.kind}", errors=errors)


@router.post("/rounds/{round_key}/teams/{credit_code}/replacements", status_code=201)
def replace(
    round_key: RoundKey,
    credit_code: CreditCode,
    body: ReplacementIn,
    request: Request,
    who: Coordinator,
    once: OnceEachKey,
) -> dict[str, Any]:
    """Withdraw ``inspector_id`` from the team of ``credit_code`` and put the inspector §14
    picks from the round's seed in the seat, the team's check due on ``due_on`` if given; the
    replacement, the team as it now stands, and ``cautions``: what the registry holds now
    against the replacement (``inactive``, ``leave``, ``conflict``: the pick is made on the
    frame as committed), each a reason to withdraw them too; and ``still_on``: for a member
    withdrawn as ``unavailable`` or ``left``, the other enterprises of the round whose teams
    still hold them (withdraw them there too); and ``due_soon``: when the seat's date is
    kept and at most two working days away, that date, the working days to it and a date to
    give the check instead (``POST .../due-dates``), else null. Refused with nothing written
    (409) when the round is not drawn, the member is not on the team (sent twice: the first
    took them off), the finding is final or no inspector is left, or when ``due_on`` and
    ``expected_due_on`` are given and the check is due on another date now
    (``replacement-due-moved``, naming the date in force and who set it); (422) when
    ``due_on`` is before today or more than a year on, or absent while the seat's own date is
    gone."""
    engine = request.app.state.engine
    try:
        done = replace_member(
            engine, round_key, credit_code, body.inspector_id,
            cause=body.cause, note=body.note, recorded_by=who.name, due_on=body.due_on,
            allowed=still_allowed(request, who), expected_due_on=body.expected_due_on,
        )  # fmt: skip
    except UserError as exc:
        raise _problem(exc, "replacement") from None
    with Session(engine) as session:  # as recorded: the time it was recorded at, too
        row = session.get(TeamChange, (round_key, done.replacement.withdrawal.n))
    assert row is not None  # committed by replace_member a moment ago, never deleted
    soon = done.due_soon
    return change_json(row) | {
        "team": list(done.team),
        "cautions": list(done.cautions),
        "still_on": list(done.still_on),
        "due_soon": None if soon is None else {
            "due_on": done.due_on.isoformat(),
            "working_days": soon.working_days,
            "suggested_due_on": soon.suggested.isoformat(),
        },
    }  # fmt: skip


@router.get("/rounds/{round_key}/replacements")
def replacements(round_key: RoundKey, request: Request, who: Coordinator) -> list[dict[str, Any]]:
    """The round's replacements in the order recorded (``n`` from 1), as its bundles replay
    them, with each one's reason and who recorded it (the bundles leave those to the audit
    log)."""
    return [change_json(row) for row in _changes(request, round_key)]


@router.post("/rounds/{round_key}/teams/{credit_code}/due-dates", status_code=201)
def redate(
    round_key: RoundKey,
    credit_code: CreditCode,
    body: RedateIn,
    request: Request,
    who: Coordinator,
    once: OnceEachKey,
) -> dict[str, Any]:
    """Give the check of ``credit_code``'s team a new date, every member's, with no one
    withdrawn (延期); the change recorded, with the date it replaces, and the team. Refused
    with nothing written (409) when the round is not drawn or the finding is final, or when
    ``expected_due_on`` is given and the check is due on another date now (another change
    moved it since the client read it: ``due-date-due-moved``, naming the date in force and
    who set it); (422) when ``due_on`` is before today, more than a year on or the check's
    date already, or the reason is blank. Without ``expected_due_on``, the date moves from
    whatever it is (two clients sending at once are both recorded, in turn)."""
    engine = request.app.state.engine
    try:
        done = move_due_date(
            engine, round_key, credit_code, due_on=body.due_on, reason=body.reason,
            recorded_by=who.name, allowed=still_allowed(request, who),
            expected_due_on=body.expected_due_on,
        )  # fmt: skip
    except UserError as exc:
        raise _problem(exc, "due-date") from None
    with Session(engine) as session:  # as recorded: the time it was recorded at, too
        row = session.get(DueChange, (round_key, done.n))
    assert row is not None  # committed by move_due_date a moment ago, never deleted
    return redate_json(row) | {"team": list(done.team)}


@router.get("/rounds/{round_key}/due-dates")
def redates(round_key: RoundKey, request: Request, who: Coordinator) -> list[dict[str, Any]]:
    """The new dates given to the round's checks with no one withdrawn, in the order recorded
    (``n`` from 1); a replacement's date is with the replacement."""
    with Session(request.app.state.engine) as session:
        _known(session, round_key)
        return [redate_json(row) for row in due_dates.recorded_rows(session, round_key)]
