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
    stratum_of,
)
from draw.plan import plan_hash
from exchange.entries import REFUSED_IN_TEXT
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
        fault = scope_fault(plan, payload)
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
    if fault:  # the commitment opens, but to frames no draw of this plan may read
        raise JointError(f"frames of {commit['bureau']}: {fault}")


def scope_fault(plan: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    """Why frames the commitment opens are not frames of the joint plan (None if they are):
    the lead's enterprise frame in strictly ascending credit codes, each unit inside the
    round's population, under the stratum the round gives it, of a known status (§3.1, as
    ``verify_joint.py`` checks the bundle: ``check_frame_scope``); each inspector frame in
    strictly ascending inspector ids (§3.2); no text holding a control or invisible character
    (those protocol version 1 refuses, ``_marked``). Checked on receipt: a participant took a
    lead's frame naming another province's enterprise, drew on it and sent its inspectors
    there; an inspector id of another bureau ending in NUL or holding U+202E went into our own
    inspectors' notices."""
    marked = _marked(payload)
    if marked:
        return marked
    for name, key in (("inspectors", "inspector_id"), ("enterprises", "credit_code")):
        units = payload.get(name, [])
        for n in range(1, len(units)):
            if not units[n - 1][key] < units[n][key]:
                return (f"{name}: not in strictly ascending {key} order "
                        f"({_shown(units[n][key])} at {n})")  # fmt: skip
    rnd = plan["round"]
    pop = rnd["population"]
    for e in payload.get("enterprises", []):
        code = _shown(e["credit_code"])
        if e.get("status", "random") not in ("random", "targeted", "excluded"):
            return f"enterprises: {code}: status: {e.get('status')!r} is not one of a frame's"
        if not any(e["division_code"].startswith(p) for p in pop["divisions"]):
            return (
                f"enterprises: {code}: division_code: {e['division_code']} is outside the "
                "round's population"
            )
        if pop["directed"] and pop["risk_classes"] and e["risk_class"] not in pop["risk_classes"]:
            return (
                f"enterprises: {code}: risk_class: {e['risk_class']} is outside the "
                "round's directed population"
            )
        if not e["cert_kinds"] or not set(e["cert_kinds"]) <= set(pop["cert_kinds"]):
            return f"enterprises: {code}: cert_kinds: outside the round's population"
        label = stratum_of(rnd, e["division_code"], e["risk_class"])
        if e["stratum"] != label:
            return f"enterprises: {code}: stratum: {e['stratum']}, but the round gives {label}"
    return None


def _marked(doc: Any) -> str | None:
    """``<path>: holds U+XXXX (…)`` for the first text of ``doc`` (in document order) holding
    a control or invisible character as protocol version 1 refuses them
    (``exchange.entries.REFUSED_IN_TEXT``: a tab or a line break is text, as in a targeted
    unit's note; a line separator or a C1 control, which an older shuangsui's registry took,
    is not refused); None if none does."""
    todo: list[tuple[Any, str]] = [(doc, "")]
    while todo:
        value, path = todo.pop()
        if isinstance(value, dict):
            items = [(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()]
            todo.extend(reversed([(k, f"{path} (a key)") for k in value] + items))
        elif isinstance(value, list):
            todo.extend(reversed([(v, f"{path}[{n}]") for n, v in enumerate(value)]))
        elif isinstance(value, str) and REFUSED_IN_TEXT.search(value):
            char = REFUSED_IN_TEXT.search(value).group()  # type: ignore[union-attr]
            return f"{path}: holds U+{ord(char):04X} (a control or invisible character)"
    return None


def _shown(value: Any) -> str:
    """A partner's value in a refusal: as it is when short and printable, else cut."""
    if isinstance(value, str) and len(value) <= 40 and value.isprintable():
        return value
    return repr(value)[:40] + "…"


def bureau_frame(payload: Mapping[str, Any]) -> BureauFrame:
    return BureauFrame(
        [InspectorUnit.from_json(d) for d in payload["inspectors"]],
        frozenset((i, c) for i, c in payload["conflicts"]),
    )
