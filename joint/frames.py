"""A bureau's side of a joint round from its own registry: the lead's enterprise frame, and
every participant's inspector frame and declared conflicts, with their commitments."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import col

from draw.canonical import canonical_json
from draw.frame import (
    EnterpriseUnit,
    InspectorUnit,
    build_inspector_frame,
    constraints_commitment,
    encode_enterprises,
    encode_inspector,
    frame_commitment,
    frame_digests,
    frame_root,
)
from draw.plan import plan_hash
from joint.draw import BureauFrame
from joint.protocol import JointError
from registry.models import Conflict
from rounds import frames as round_frames
from rounds.preflight import build_frames


def own_frames(conn: Connection, plan: Mapping[str, Any], bureau: str) -> dict[str, Any]:
    """The frames payload of ``bureau``: ``{"inspectors", "conflicts"}`` and, for the lead,
    ``"enterprises"`` (the enterprise frame of the plan's ``round``)."""
    insps = build_inspector_frame(round_frames.inspector_rows(conn))
    pairs = conn.execute(select(col(Conflict.inspector_id), col(Conflict.credit_code)))
    payload: dict[str, Any] = {
        "inspectors": [u.to_json() for u in insps],
        "conflicts": sorted([i, c] for i, c in pairs),
    }
    if bureau == plan["lead"]:
        built = build_frames(conn, plan["round"], source="joint plan: round")
        payload["enterprises"] = [u.to_json() for u in built.enterprises]
    return payload


def commitments(plan: Mapping[str, Any], bureau: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The commitment fields of a frames payload (§13.2): inspector side for every bureau,
    enterprise side (and the round plan's hash) for the lead."""
    insps = [InspectorUnit.from_json(d) for d in payload["inspectors"]]
    rows = [encode_inspector(u) for u in insps]
    pairs = [tuple(p) for p in payload["conflicts"]]
    out: dict[str, Any] = {
        "inspector_commitment": frame_commitment(rows),
        "inspector_root": frame_root(rows),
        "inspector_size": len(rows),
        "constraints_commitment": constraints_commitment(pairs, []),  # type: ignore[arg-type]
    }
    if bureau == plan["lead"]:
        ents = [EnterpriseUnit.from_json(d) for d in payload["enterprises"]]
        erows = frame_digests(encode_enterprises(ents))
        out |= {
            "plan_hash": plan_hash(plan["round"]),
            "frame_commitment": erows.commitment,
            "frame_root": erows.root,
            "frame_size": erows.size,
        }
    return out


def check_payload(plan: Mapping[str, Any], commit: Mapping[str, Any], text: str) -> None:
    """The frames sent with a commitment must be the frames it commits to."""
    try:
        payload = json.loads(text)
        if canonical_json(payload).decode() != text:
            raise JointError("frames: not canonical JSON")
        want = commitments(plan, commit["bureau"], payload)
    except RecursionError:  # a payload relayed by a pull is not depth-checked as a POST's is
        raise JointError(
            f"frames of {commit['bureau']}: malformed (JSON nested too deeply)"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise JointError(f"frames of {commit['bureau']}: malformed ({exc})") from None
    for name, value in want.items():
        if commit.get(name) != value:
            raise JointError(
                f"frames of {commit['bureau']}: {name} {value} differs from the "
                f"signed commitment ({commit.get(name)})"
            )


def bureau_frame(payload: Mapping[str, Any]) -> BureauFrame:
    return BureauFrame(
        [InspectorUnit.from_json(d) for d in payload["inspectors"]],
        frozenset((i, c) for i, c in payload["conflicts"]),
    )
