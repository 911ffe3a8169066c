"""Why an enterprise is in its class: the inputs and the points behind it, any override, and
its classes over time."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from registry.models import Enterprise
from risk.classify import overrides_in_force, run_in_force
from risk.models import RiskClassification, RiskOverride, RiskRun
from risk.rules import parse
from risk.verify_classes import score
from shuangsui.errors import NotFound

_E = Enterprise.__table__  # type: ignore[attr-defined]
_K = RiskClassification.__table__  # type: ignore[attr-defined]
_O = RiskOverride.__table__  # type: ignore[attr-defined]
_R = RiskRun.__table__  # type: ignore[attr-defined]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC
    return str(value.isoformat())


def _override(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "class": str(row["risk_class"]), "reason": row["reason"],
        "status": row["status"], "requested_by": row["requested_by"],
        "requested_at": _iso(row["requested_at"]), "approved_by": row["approved_by"],
        "approved_at": _iso(row["approved_at"]),
    }  # fmt: skip


def explain(engine: Engine, credit_code: str) -> dict[str, Any]:
    """The class in force now and everything behind it; NotFound for an unknown enterprise."""
    with engine.connect() as conn:
        ent = conn.execute(
            sa.select(_E.c.credit_code, _E.c.name, _E.c.risk_class).where(
                _E.c.credit_code == credit_code
            )
        ).first()
        if ent is None:
            raise NotFound(f"credit_code: no enterprise {credit_code} in the registry")
        run = run_in_force(conn)
        row = None
        if run is not None:
            row = conn.execute(
                sa.select(_K).where(_K.c.run_id == run["id"], _K.c.credit_code == credit_code)
            ).mappings().first()  # fmt: skip
        override = overrides_in_force(conn).get(credit_code)
        all_overrides = conn.execute(
            sa.select(_O).where(_O.c.credit_code == credit_code).order_by(_O.c.id)
        ).mappings()
        overrides = [_override(o) for o in all_overrides]
        history = [
            {"run_id": r, "as_of": _iso(d), "class": str(c), "score": s}
            for r, d, c, s in conn.execute(
                sa.select(_K.c.run_id, _R.c.as_of, _K.c.risk_class, _K.c.score)
                .join(_R, _R.c.id == _K.c.run_id)
                .where(_K.c.credit_code == credit_code)
                .order_by(_K.c.run_id)
            )
        ]
    out: dict[str, Any] = {
        "credit_code": credit_code, "name": ent.name, "registry_class": str(ent.risk_class),
        "class": str(ent.risk_class), "source": "registry", "classification": None,
        "override": _override(override) if override else None, "overrides": overrides,
        "history": history,
    }  # fmt: skip
    if run is not None and row is not None:
        rules = parse(run["rules_text"], source=run["rules_id"])
        inputs = json.loads(row["inputs"])
        total, cls, lines = score(rules.doc, inputs, run["as_of"])
        out["classification"] = {
            "run_id": run["id"], "as_of": _iso(run["as_of"]),
            "computed_at": _iso(run["computed_at"]), "rules_id": run["rules_id"],
            "rules_hash": run["rules_hash"], "class": str(row["risk_class"]),
            "score": row["score"], "input_digest": row["input_digest"], "inputs": inputs,
            "points": [{"section": s, "detail": d, "points": p} for s, d, p in lines],
            "bounds": rules.doc["classes"], "recomputed": {"score": total, "class": cls},
        }  # fmt: skip
        out["class"], out["source"] = str(row["risk_class"]), "classification"
    if override:
        out["class"], out["source"] = str(override["risk_class"]), "override"
    return out


def render(doc: dict[str, Any]) -> str:
    """The explanation as text for the command line."""
    lines = [f"{doc['credit_code']} {doc['name']}: class {doc['class']} ({doc['source']})"]
    c = doc["classification"]
    if c is None:
        lines.append(f"  not classified: the registry's class {doc['registry_class']} stands")
    else:
        lines.append(
            f"  classification {c['run_id']} as of {c['as_of']} under {c['rules_id']} "
            f"(rules {c['rules_hash'][:16]}), inputs {c['input_digest'][:16]}"
        )
        for p in c["points"]:
            lines.append(f"  {p['points']:>+5}  {p['section']}: {p['detail']}")
        bounds = ", ".join(f"{k} from {v}" for k, v in sorted(c["bounds"].items()))
        lines.append(f"  = {c['score']} points -> class {c['class']} (A below B; {bounds})")
    for o in doc["overrides"]:
        state = f"approved by {o['approved_by']}" if o["status"] == "approved" else "pending"
        lines.append(
            f"  override {o['id']}: class {o['class']} by {o['requested_by']}, {state}: "
            f"{o['reason']}"
        )
    return "\n".join(lines)
