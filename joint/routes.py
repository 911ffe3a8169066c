"""Joint-round routes of the partner exchange (``/exchange/v1/joint``, role ``partner``).

``POST /exchange/v1/joint/{joint}/statements`` takes one signed statement of the calling
bureau (its commitment with its frames, its reveal, or a finding for the lead);
``GET /exchange/v1/joint/{joint}`` answers every commitment and reveal this bureau holds, so
that a statement sent to any participant reaches them all. docs/exchange-protocol.md,
"Joint rounds". The route checks the body's shape and the JSON type of the fields the checks
read as strings or integers (``joint.protocol.FIELD_TYPES``, checked again by
``open_envelope`` for every statement, a pulled one too); the checks are ``joint.store``'s.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from api.problems import Problem
from draw.canonical import canonical_json
from exchange.api import PARTNER, require_partner
from exchange.directory import Partner
from joint import store
from joint.protocol import JointError, field_fault, unknown_type
from shuangsui.errors import NotFound
from shuangsui.keys import KEY_PATTERN
from shuangsui.text import cut

router = APIRouter(prefix="/exchange/v1/joint", tags=["joint rounds"])
CALLER = Depends(require_partner)  # the same (cached) check as PARTNER: the signing bureau
JOINT = Path(pattern=KEY_PATTERN, description="the joint round's key")


LATE: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Too early or too late for this statement (the protocol's order "
        "and deadlines): the detail says which"
    }
}


MAX_DEPTH = 16  # a statement and its frames nest a few levels; deeper is an attack on recursion


def _depth(doc: Any) -> int:
    """How deeply ``doc`` nests (iteratively: a deep document must not exhaust the stack)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict | list):
            stack.extend(
                (child, level + 1) for child in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


def _loads(text: str | bytes, what: str) -> Any:
    """JSON nested at most MAX_DEPTH levels, or 400/422 naming ``what``."""
    too_deep = Problem(422, f"{what}: JSON nested deeper than {MAX_DEPTH} levels",
                       slug="invalid-statement")  # fmt: skip
    try:
        doc = json.loads(text)
    except RecursionError:
        raise too_deep from None
    except ValueError:
        raise Problem(400, f"{what}: not JSON", slug="invalid-statement") from None
    if _depth(doc) > MAX_DEPTH:
        raise too_deep
    return doc


MAX_DETAIL = 500  # characters of a refusal quoted back: a statement may hold 1 MiB


def _typed(statement: dict[str, Any]) -> None:
    """422 naming the first field not of its JSON type (``joint.protocol.field_fault``, the
    check ``open_envelope`` makes of a statement relayed by a pull too), before anything
    reads the fields."""
    fault = field_fault(statement)
    if fault:
        raise Problem(422, f"body: {fault}", slug="invalid-statement")


def _parse(body: bytes) -> tuple[dict[str, Any], str]:
    """``{"envelope": {"statement": {...}, ...}, "payload": "..."}``, or 400/422 naming why."""
    doc = _loads(body, "body")
    envelope = doc.get("envelope") if isinstance(doc, dict) else None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("statement"), dict):
        raise Problem(422, 'body: a JSON object {"envelope": {"statement": {...}, ...}, '
                      '"payload": "..."} is needed', slug="invalid-statement")  # fmt: skip
    payload = doc.get("payload", "")
    if not isinstance(payload, str):
        raise Problem(422, "body: payload: a string", slug="invalid-statement")
    if payload:  # a commitment's frames, checked against it by the statement checks
        frames = _loads(payload, "body: payload")
        try:  # the canonical JSON of the frames (§13.2): a lone surrogate has no UTF-8 and
            canonical = canonical_json(frames).decode() == payload  # was a 500 at the insert
        except (TypeError, ValueError):  # a float, an integer past I-JSON, a lone surrogate
            canonical = False
        if not canonical:
            raise Problem(422, "body: payload: not canonical JSON (the frames as the protocol "
                          "writes them: UTF-8, sorted keys, no spaces, no floats)",
                          slug="invalid-statement")  # fmt: skip
    return envelope, payload


@router.post("/{joint}/statements", dependencies=PARTNER, responses=LATE)
async def post_statement(
    request: Request, joint: str = JOINT, partner: Partner = CALLER
) -> dict[str, Any]:
    """One signed statement of the calling bureau: ``{"envelope", "payload"}``."""
    envelope, payload = _parse(await request.body())
    unknown = unknown_type(envelope["statement"])  # a newer partner's: say we do not know it
    if unknown:
        raise Problem(422, str(unknown), slug="unknown-statement-type")
    _typed(envelope["statement"])
    if envelope["statement"].get("joint") != joint:
        said = cut(repr(envelope["statement"].get("joint")), MAX_DETAIL)
        raise Problem(422, f"body: statement.joint: {said} is not {joint}",
                      slug="invalid-statement")  # fmt: skip
    engine, me = request.app.state.engine, request.app.state.settings.bureau_code
    try:
        said = await run_in_threadpool(store.receive, engine, me, partner, envelope, payload)
    except JointError as exc:  # it may quote a field sent: cut
        raise Problem(422, cut(str(exc), MAX_DETAIL), slug="invalid-statement") from None
    return {"joint": joint, "result": said}


@router.get("/{joint}", dependencies=PARTNER)
def get_state(request: Request, joint: str = JOINT, partner: Partner = CALLER) -> dict[str, Any]:
    """Every commitment (with its frames) and reveal this bureau holds for ``joint``: only for
    a participant of the joint plan this bureau committed to (the lead's enterprise frame is
    not for other partners, and not public before the round's check window closes)."""
    engine = request.app.state.engine
    row = None
    with contextlib.suppress(NotFound):
        row = store.get_joint(engine, joint)
    if row is None or partner.code not in {p["bureau"] for p in store.plan_of(row)["participants"]}:
        raise Problem(404, f"joint round {joint}: this bureau has committed to no joint round of "
                      f"that key with bureau {partner.code}", slug="not-found")  # fmt: skip
    return store.state(engine, joint)
