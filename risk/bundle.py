"""The classification bundle of a round: what an outsider needs to recompute its frame's classes.

Files (checked by ``verify_classes.py``, copied in): ``rules.json`` and ``rules.yaml`` (the
rules of the classification the round's frame read, as its commit recorded it: ``risk.hooks``),
``classification.json`` (round key, frame commitment, the run: id, date, rules id and hash),
``classes.jsonl`` (per frame enterprise: inputs in clear, complaints only as count + salted
commitment, their digest, score, class, the approved override if any, the class in force) and
``frame-enterprises.jsonl`` (the frame as committed). A frame enterprise the run has no row for
(registered or active again since) is ``registry: true`` with the frame's class: nothing here
can show that, and the check names such classes as not checked.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from draw.canonical import canonical_json
from risk.classify import overrides_by_id, overrides_in_force, run_by_id, run_in_force
from risk.models import RiskClassification
from risk.rules import parse
from rounds import artifacts, service
from rounds.models import AuditEvent
from shuangsui.errors import UserError
from shuangsui.files import remove_leftovers, write_atomic, writer_lock

_K = RiskClassification.__table__  # type: ignore[attr-defined]
_E = AuditEvent.__table__  # type: ignore[attr-defined]
SCRIPT = Path(__file__).with_name("verify_classes.py")
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _override(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "class": str(row["risk_class"]), "reason": row["reason"],
            "requested_by": row["requested_by"], "approved_by": row["approved_by"]}  # fmt: skip


def _read_by_frame(
    conn: sa.Connection, round_key: str, committed_at: dt.datetime
) -> tuple[Mapping[str, Any] | None, dict[str, Any]]:
    """The run and the overrides (credit_code -> row) the round's frame read, as its commit
    recorded them (``RiskClassesCommitted``, ``risk.hooks``); a round committed before it was
    recorded: those in force at its commit time."""
    q = (
        sa.select(_E.c.payload)
        .where(_E.c.round_key == round_key, _E.c.event == "RiskClassesCommitted")
        .order_by(_E.c.seq)
        .limit(1)
    )
    payload = conn.execute(q).scalar()
    if payload is None:
        return run_in_force(conn, committed_at), overrides_in_force(conn, committed_at)
    read = json.loads(payload)
    run = None if read["run_id"] is None else run_by_id(conn, read["run_id"])
    return run, overrides_by_id(conn, read["overrides"])


def write_bundle(engine: Engine, round_key: str, out: Path) -> Path:
    """Write the classification bundle of ``round_key`` into ``out``; returns ``out``."""
    rnd = service.get_round(engine, round_key)
    with Session(engine) as session:
        frame_bytes = artifacts.artifact(session, round_key, "frame-enterprises.jsonl")
    frame = [json.loads(line) for line in frame_bytes.splitlines() if line.strip()]
    with engine.connect() as conn:
        run, overrides = _read_by_frame(conn, round_key, rnd.committed_at)
        if run is None:
            raise UserError(
                f"round {round_key} was committed before any risk classification: its frame "
                "carries the registry's classes"
            )
        q = sa.select(_K.c.credit_code, _K.c.risk_class, _K.c.score, _K.c.input_digest,
                      _K.c.inputs).where(_K.c.run_id == run["id"])  # fmt: skip
        rows = {r[0]: r for r in conn.execute(q)}
    lines = []
    for unit in frame:
        code = unit["credit_code"]
        override = overrides.get(code)
        entry: dict[str, Any] = {"credit_code": code}
        if override:
            entry["override"] = _override(override)
        if code in rows:
            _c, cls, score, digest, inputs = rows[code]
            entry |= {"inputs": json.loads(inputs), "input_digest": digest, "score": score,
                      "class": str(cls)}  # fmt: skip
            entry["in_force"] = str(override["risk_class"]) if override else str(cls)
        else:
            entry["registry"] = True
            entry["in_force"] = unit["risk_class"]
        lines.append(_dumps(entry) + "\n")
    rules = parse(run["rules_text"], source=run["rules_id"])
    meta = {
        "round_key": round_key, "frame_commitment": rnd.frame_commitment,
        "frame_size": rnd.frame_size, "committed_at": rnd.committed_at.isoformat(),
        "run_id": run["id"], "as_of": run["as_of"].isoformat(), "rules_id": run["rules_id"],
        "rules_hash": run["rules_hash"], "run_digest": run["digest"],
    }  # fmt: skip
    files = {
        "rules.json": canonical_json(rules.doc),
        "rules.yaml": rules.text.encode(),
        "classification.json": canonical_json(meta),
        "classes.jsonl": "".join(lines).encode(),
        "frame-enterprises.jsonl": frame_bytes,
        "verify_classes.py": SCRIPT.read_bytes(),
    }
    with writer_lock(out):  # two runs into one folder take turns (``shuangsui.files``)
        remove_leftovers(out)
        for name, data in files.items():
            write_atomic(out / name, data)
    return out


def run_check(directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the bundle's own checker the way an outsider would: stdlib only, isolated."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(directory / "verify_classes.py"), str(directory)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
