"""Joint-round routes of the partner exchange (``/exchange/v1/joint``, role ``partner``).

``POST /exchange/v1/joint/{joint}/statements`` takes one signed statement of the calling
bureau (its commitment with its frames, its reveal, or a finding for the lead);
``GET /exchange/v1/joint/{joint}`` answers every commitment and reveal this bureau holds, so
that a statement sent to any participant reaches them all. docs/exchange-protocol.md,
"Joint rounds".
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from api.problems import Problem
from exchange.api import PARTNER, require_partner
from exchange.directory import Partner
from joint import store
from joint.protocol import JointError
from shuangsui.keys import KEY_PATTERN

router = APIRouter(prefix="/exchange/v1/joint", tags=["joint rounds"])
CALLER = Depends(require_partner)  # the same (cached) check as PARTNER: the signing bureau
JOINT = Path(pattern=KEY_PATTERN, description="the joint round's key")


LATE: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Too early or too late for this statement (the protocol's order "
        "and deadlines): the detail says which"
    }
}


@router.post("/{joint}/statements", dependencies=PARTNER, responses=LATE)
async def post_statement(
    request: Request, joint: str = JOINT, partner: Partner = CALLER
) -> dict[str, Any]:
    """One signed statement of the calling bureau: ``{"envelope", "payload"}``."""
    try:
        doc = json.loads(await request.body())
    except ValueError:
        raise Problem(400, "body: not JSON", slug="invalid-statement") from None
    try:
        envelope, payload = doc["envelope"], doc.get("payload", "")
        if not isinstance(payload, str):
            raise TypeError("payload: a string")
        if envelope["statement"]["joint"] != joint:
            raise JointError(f"statement.joint: {envelope['statement']['joint']!r} is not {joint}")
    except (ValueError, KeyError, TypeError) as exc:
        raise Problem(422, f"body: {exc}", slug="invalid-statement") from None
    engine, me = request.app.state.engine, request.app.state.settings.bureau_code
    try:
        said = await run_in_threadpool(store.receive, engine, me, partner, envelope, payload)
    except JointError as exc:
        raise Problem(422, str(exc), slug="invalid-statement") from None
    return {"joint": joint, "result": said}


@router.get("/{joint}", dependencies=PARTNER)
def get_state(request: Request, joint: str = JOINT) -> dict[str, Any]:
    """Every commitment (with its frames) and reveal this bureau holds for ``joint``."""
    return store.state(request.app.state.engine, joint)
