"""A coordinator's routes: everything of the bureau, deadlines, ad hoc rounds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import AfterValidator, BaseModel, Field
from sqlmodel import Session, col, select

from api import ceremonies, paging
from api.adhoc import (
    DIGITS_MAX,
    REASON_MAX,
    WITNESSES_MAX,
    Refused,
    check_overrides,
    refused_ceremonies,
    run_ceremony,
)
from api.auth import Principal, Role, allow
from api.problems import PROBLEM_RESPONSES, Problem
from api.runs import remembered_state, run_state
from findings import overdue
from findings.evidence import evidence_dir, served_headers
from findings.models import Evidence
from findings.records import load_results
from rounds.models import AuditEvent, Round
from shuangsui.keys import PlanRef, RoundKey
from shuangsui.text import no_control_in_text
from workspace.events import AdhocRequested

router = APIRouter(tags=["coordinator"], responses=PROBLEM_RESPONSES)
Coordinator = Annotated[Principal, Depends(allow(Role.coordinator))]


def _round(r: Round) -> dict[str, Any]:
    return {
        "round_key": r.round_key,
        "kind": r.kind.value,
        "status": r.status.value,
        "period": r.period,
        "plan_id": r.plan_id,
        "frame_commitment": r.frame_commitment,
        "seed": r.seed,
        "counts": r.counts or {},
    }


@router.get("/rounds", responses={200: {"headers": paging.NEXT_LINK}})
def list_rounds(
    request: Request,
    response: Response,
    who: Coordinator,
    once: paging.OnceEachParameter,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: paging.After = None,
) -> list[dict[str, Any]]:
    """The bureau's rounds, newest first (this month's at the head, where a coordinator looks;
    a round committed during a walk of the pages is on the first page of the next walk),
    ``limit`` a page (``api.paging``)."""
    key = (col(Round.committed_at), col(Round.round_key))  # round_key: when two share a time
    start = paging.decode(after, (paging.aware, str))
    stmt = select(Round).order_by(*(c.desc() for c in key)).limit(limit + 1)
    if start is not None:
        stmt = stmt.where(paging.after_key(key, start, descending=True))
    with Session(request.app.state.engine) as session:
        rows = session.exec(stmt).all()
    here = paging.page(rows, limit, lambda r: (r.committed_at, r.round_key), request, response)
    return [_round(r) for r in here]


@router.get("/rounds/{round_key}")
def one_round(round_key: RoundKey, request: Request, who: Coordinator) -> dict[str, Any]:
    """One round (with ``refused_ceremonies``: who entered digits that were not drawn and when
    (``requested_by``, ``at``), and why (``reason``): ``drawn``, the round drawn by another
    ceremony, or ``held``, another ceremony holding the round (``entered_by``,
    ``entered_at``; ``by_command``: that was ``shuangsui round draw``); and ``ceremony``,
    while the round is committed, its last ceremony as its page says it (:func:`_ceremony`),
    else null); or, for the key ``POST /rounds/adhoc`` answered with, why it never became
    one (``status`` ``refused``: the refusal's ``kind`` and ``error``, as the audit log holds
    them); 404 for a key that is neither (yet: the round may still be committing)."""
    engine = request.app.state.engine
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        if rnd is not None:  # and the ceremonies not drawn: answered 202 like the one drawn
            not_drawn = [_refused(r) for r in refused_ceremonies(session, round_key)]
    if rnd is not None:
        return _round(rnd) | {"refused_ceremonies": not_drawn,
                              "ceremony": _ceremony(engine, round_key)}  # fmt: skip
    with Session(engine) as session:
        refused = session.exec(
            select(AuditEvent)
            .where(AuditEvent.round_key == round_key, AuditEvent.event == "AdhocRefused")
            .order_by(AuditEvent.seq.desc())  # type: ignore[attr-defined]
        ).first()
    if refused is None:
        raise Problem(404, f"round {round_key} does not exist (yet)", slug="not-found")
    said, at = json.loads(refused.payload), refused.at  # SQLite's is naive, and UTC
    return {"round_key": round_key, "status": "refused", "plan_id": said["plan"],
            "kind": said["kind"], "error": said["error"],
            "at": (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()}  # fmt: skip


def _ceremony(engine: Any, round_key: str) -> dict[str, Any] | None:
    """The committed round's last ceremony (``api.ceremonies.hold_of``; its deployment run
    asked of Prefect, the answer kept ``api.runs.REMEMBER_SECONDS``): who entered it
    (``entered_by``; ``by_command``: who ran ``shuangsui round draw``) and when
    (``entered_at``), whether it holds the round (``live``; ``held_until``: when the hold ends
    unless the round is drawn or the run found ended before), its deployment run (``run_id``)
    and that run's state as Prefect said it (``run_state``; null when not known), and why it
    no longer holds the round (``error``, its run's failure as recorded; null when the hold
    expired with nothing recorded, or is live). Null when no ceremony was entered since the
    last draw failure, or the round is not committed."""
    hold = ceremonies.hold_of(engine, round_key, remembered_state)
    if hold is None:
        return None
    first = hold.ceremony
    at = first.at.isoformat() if first.at else None
    until = (first.at + ceremonies.HOLD).isoformat() if hold.live and first.at else None
    state = hold.run_state or (remembered_state(hold.run_id) if hold.run_id else None)
    return {"entered_by": first.requested_by, "entered_at": at, "by_command": first.by_command,
            "live": hold.live, "held_until": until, "run_id": hold.run_id or None,
            "run_state": state or None, "error": hold.error or None}  # fmt: skip


def _refused(r: Refused) -> dict[str, Any]:
    said: dict[str, Any] = {"requested_by": r.by, "at": r.at.isoformat(), "reason": r.reason}
    if r.reason == "held":
        said["entered_by"] = r.entered_by
        said["entered_at"] = r.entered_at.isoformat() if r.entered_at else None
        said["by_command"] = r.by_command
    return said


@router.get("/rounds/{round_key}/findings")
def round_findings(round_key: str, request: Request, who: Coordinator) -> list[dict[str, Any]]:
    """Every drawn enterprise of a round with its team and the state of its finding."""
    with request.app.state.engine.connect() as conn:
        records = load_results(conn, [round_key])
    if not records:
        raise Problem(
            404, f"round {round_key} has no drawn enterprises (or does not exist)", slug="not-found"
        )
    out = []
    for rec in records:
        pub = rec.public
        latest = rec.versions[-1] if rec.versions else None
        out.append(
            {
                "credit_code": rec.credit_code,
                "team": rec.team,
                "versions": len(rec.versions),
                "latest_missing": list(latest.state.missing) if latest else rec.team,
                "final_version": pub.version if pub else None,
                "result": pub.result if pub else None,
                "published": bool(pub and pub.published_at),
            }
        )
    return out


@router.get("/deadlines", responses={200: {"headers": paging.NEXT_LINK}})
def deadlines(
    request: Request,
    response: Response,
    who: Coordinator,
    once: paging.OnceEachParameter,
    all: bool = False,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: paging.After = None,
) -> list[dict[str, Any]]:
    """Results late or due soon for publication, and findings past their assignment's due date
    (``all=true`` lists everything pending): the earliest due first, which puts the late ones
    first, then those due soon (the order of ``findings.overdue``); ``limit`` a page
    (``api.paging``), keyed by (due, round, enterprise), which an item keeps as days pass.
    A page computes only the rounds that can hold its items (``findings.overdue.page``)."""
    start = paging.decode(after, (dt.date.fromisoformat, str, str))
    engine = request.app.state.engine
    items = overdue.page(engine, after=start, limit=limit, pending_only=not all)
    pending = "true" if all else None  # the filter, as the next page's link carries it
    here = paging.page(items, limit, overdue.item_key, request, response, all=pending)
    return [dataclasses.asdict(i) | {"due": i.due.isoformat()} for i in here]


Text = Annotated[str, Field(max_length=64)]
# a plan's numbers are hashed as exact JSON numbers (draw.canonical, I-JSON): a larger cap was
# answered 202 and then stopped the round in the background with a TypeError
MAX_SAFE_INT = 2**53 - 1


class AdhocRequest(BaseModel):
    plan: PlanRef = Field(description="plan id, or a .yaml file's path under the plans directory")
    reason: Annotated[str, AfterValidator(no_control_in_text)] = Field(
        min_length=1, max_length=REASON_MAX, description="why this round (audited)"
    )
    rates: dict[Text, Text] | None = Field(default=None, max_length=100)
    total_cap: int | None = Field(default=None, ge=1, le=MAX_SAFE_INT)
    divisions: list[Text] | None = Field(default=None, max_length=5000)
    round_id: RoundKey | None = Field(
        default=None,
        description="continue an ad hoc round already committed (the ceremony): drawn as "
        "committed, its cap, rates and divisions the commitment's (give none, or the same)",
    )
    witness_digits: str | None = Field(
        default=None,
        max_length=DIGITS_MAX,
        description="the ceremony's digits, only for a committed round_id",
    )
    witnesses: list[Text] | None = Field(default=None, max_length=WITNESSES_MAX)


@router.post(
    "/rounds/adhoc",
    status_code=202,
    responses={409: {"description": "A ceremony for the round was entered first: these digits "
                     "are not used (entered_by, entered_at, drawn)"}},
)  # fmt: skip
def adhoc(body: AdhocRequest, request: Request, who: Coordinator) -> dict[str, Any]:
    """Start an ad hoc round (the ``adhoc-round`` flow; through its deployment when a Prefect
    server is configured). The requester is the coordinator token's holder. A committed
    round's ceremony (``round_id`` with ``witness_digits``) is refused 409 naming who entered
    its ceremony first and when: the round drawn with other digits, or being drawn with them
    (``api.ceremonies``: held in the database, whichever server the other came to)."""
    params = body.model_dump(exclude_none=True) | {"requested_by": who.name}
    runner = request.app.state.adhoc_runner
    if not (body.round_id and body.witness_digits):
        check_overrides(request.app.state.engine, params)  # 422 now, not refused after a 202
        return dict(runner(params))
    # who entered the digits, as the round's page records its ceremony: the round's hold
    entered = AdhocRequested(str(body.plan), body.reason, who.name, "ceremony")
    engine = request.app.state.engine
    first, answer = run_ceremony(engine, runner, params, body.round_id, entered, run_state)
    if first is not None:
        said = first.problem(body.round_id)
        raise Problem(409, said.pop("detail"), slug="ceremony-entered", **said)
    return answer


@router.get("/evidence/{sha256}", response_class=FileResponse)
def get_evidence(
    sha256: Annotated[str, PathParam(pattern="^[0-9a-f]{64}$")],
    request: Request,
    who: Coordinator,
) -> FileResponse:
    """An evidence file as uploaded, as an attachment under its file name (never sniffed)."""
    with Session(request.app.state.engine) as session:
        row = session.get(Evidence, sha256)
    path: Path = evidence_dir(request.app.state.settings.home) / sha256  # 64 hex: one name
    if row is None or not path.is_file():
        raise Problem(404, f"no evidence {sha256}", slug="not-found")
    headers = served_headers(row, inline_images=False)
    return FileResponse(path, media_type=row.media_type, headers=headers)
