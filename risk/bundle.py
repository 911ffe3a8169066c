"""The classification bundle of a round: what an outsider needs to recompute its frame's classes.

Files (checked by ``verify_classes.py``, copied in): ``rules.json`` and ``rules.yaml`` (the
rules of the classification in force when the round was committed), ``classification.json``
(round key, frame commitment, the run: id, date, rules id and hash), ``classes.jsonl`` (per
frame enterprise: inputs in clear, complaints only as count + salted commitment, their digest,
score, class, the approved override if any, the class in force) and ``frame-enterprises.jsonl``
(the frame as committed). A frame enterprise the run has no row for (registered or active
again since) is ``registry: true`` with the frame's class: nothing here can show that, and
the check names such classes as not checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from draw.canonical import canonical_json
from risk.classify import overrides_in_force, run_in_force
from risk.models import RiskClassification
from risk.rules import parse
from rounds import artifacts, service
from shuangsui.errors import UserError
from shuangsui.files import remove_leftovers, write_atomic, writer_lock

_K = RiskClassification.__table__  # type: ignore[attr-defined]
SCRIPT = Path(__file__).with_name("verify_classes.py")
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _override(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "class": str(row["risk_class"]), "reason": row["reason"],
            "requested_by": row["requested_by"], "approved_by": row["approved_by"]}  # fmt: skip


def write_bundle(engine: Engine, round_key: str, out: Path) -> Path:
    """Write the classification bundle of ``round_key`` into ``out``; returns ``out``."""
    rnd = service.get_round(engine, round_key)
    with Session(engine) as session:
        frame_bytes = artifacts.artifact(session, round_key, "frame-enterprises.jsonl")
    frame = [json.loads(line) for line in frame_bytes.splitlines() if line.strip()]
    with engine.connect() as conn:
        run = run_in_force(conn, rnd.committed_at)
        if run is None:
            raise UserError(
                f"round {round_key} was committed before any risk classification: its frame "
                "carries the registry's classes"
            )
        overrides = overrides_in_force(conn, rnd.committed_at)
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
