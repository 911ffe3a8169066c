"""The joint round's bundle (docs/draw-algorithm.md §13.6): everything an outsider needs to
check the round with ``python3 -I -S verify_joint.py DIR`` and nothing else.

Each file is written atomically and the manifest last (``shuangsui.files``); two runs into one
folder take turns (its writer lock), the second reading the round after the first has written.
``verify_joint.py`` refuses a file its manifest does not list, so a bundle written into a
folder that held another (a draw bundle, or a joint round with other participants) first
removes the other's files (``draw.bundle.other_bundle_files``), and never a file a person
put there."""

from __future__ import annotations

import contextlib
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from draw.bundle import other_bundle_files
from draw.canonical import canonical_json
from joint import service
from joint.models import JointRound, JointStatement
from joint.replacements import held_envelopes
from shuangsui.errors import UserError
from shuangsui.files import remove_leftovers, write_atomic, writer_lock

HERE = Path(__file__).resolve().parent
VERIFY = HERE.parent / "draw" / "verify_bundle.py"
VERIFY_JOINT = HERE / "verify_joint.py"


def bundle_files(plan: dict[str, Any]) -> list[str]:
    """The files of a bundle, in manifest order."""
    names = ["joint-plan.json", "statements.json", "frame-enterprises.jsonl"]
    for p in plan["participants"]:
        names += [f"inspectors-{p['bureau']}.jsonl", f"conflicts-{p['bureau']}.json"]
    return names + ["outcome.json", "verify.py", "verify_joint.py"]


def _remove_bytecode(out: Path) -> None:
    """Remove what an earlier ``verify_joint.py`` run in ``out`` left: the bytecode of the
    bundle's verify.py (``__pycache__/verify.*.pyc``; it now writes none), and the folder once
    empty. A folder the manifest does not list is refused, so a bundle written again into a
    folder checked before would not verify."""
    cache = out / "__pycache__"
    if not cache.is_dir():
        return
    for pyc in cache.glob("verify.*.pyc"):
        pyc.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # kept while it holds anything else
        cache.rmdir()


def _line(obj: Any) -> bytes:
    return canonical_json(obj) + b"\n"


def write_bundle(engine: Engine, joint: str, out: Path) -> list[str]:
    """Write the joint round's bundle into ``out``; the names of its files (in manifest order,
    the manifest besides)."""
    _drawn(engine, joint)  # refused before the folder is made
    with writer_lock(out):  # two runs into one folder take turns (``shuangsui.files``)
        remove_leftovers(out)
        return _write_bundle(engine, joint, out)


def _drawn(engine: Engine, joint: str) -> JointRound:
    row = service.get_joint(engine, joint)
    if row.status == "withdrawn":
        raise UserError(f"joint round {joint} is withdrawn here: nothing was drawn, it has no "
                        "bundle (joint status shows when and by whom)")  # fmt: skip
    if row.status not in ("drawn", "failed") or row.outcome is None:
        raise UserError(f"joint round {joint} is {row.status}: draw it first (joint draw)")
    return row


def as_decided(row: JointRound, rows: list[JointStatement]) -> list[JointStatement]:
    """The statements ``row``'s decision was made from, in the order they arrived: a
    commitment or reveal held after it (a second commitment signed once the round was drawn, a
    reveal pulled once it had failed) changes nothing here, and in the bundle it made
    ``verify_joint.py`` recompute another decision. A refused reveal is evidence whenever it
    came (it never counts)."""
    done = row.decided_at
    return sorted(
        (r for r in rows if r.kind == "bad-reveal" or done is None or r.received_at <= done),
        key=lambda r: (r.received_at, r.digest),
    )


def _write_bundle(engine: Engine, joint: str, out: Path) -> list[str]:
    row = _drawn(engine, joint)
    plan = service.plan_of(row)
    commits: dict[str, list[dict[str, Any]]] = {}
    reveals: dict[str, dict[str, Any]] = {}
    payloads: dict[str, dict[str, Any]] = {}
    refused = []
    for r in as_decided(row, service.held(engine, joint, ("commit", "reveal", "bad-reveal"))):
        env = json.loads(r.envelope)
        if r.kind == "commit":
            commits.setdefault(r.bureau, []).append(env)
            payloads.setdefault(r.bureau, json.loads(r.payload))  # the first's: verify_joint.py
            # checks the frames against the first commitment listed
        elif r.kind == "reveal":
            reveals[r.bureau] = env
        else:
            refused.append(env)
    statements: dict[str, Any] = {"commits": commits, "reveals": reveals, "refused": refused}
    with Session(engine) as s:
        replaced = held_envelopes(s, joint)
    if replaced:  # only then: a round without replacements keeps its bytes (§13.7)
        statements["replacements"] = replaced
    blobs: dict[str, bytes] = {
        "joint-plan.json": canonical_json(plan),
        "statements.json": _line(statements),
    }
    lead = payloads.get(plan["lead"], {})
    blobs["frame-enterprises.jsonl"] = b"".join(_line(e) for e in lead.get("enterprises", []))
    for p in plan["participants"]:
        b = payloads.get(p["bureau"], {"inspectors": [], "conflicts": []})
        blobs[f"inspectors-{p['bureau']}.jsonl"] = b"".join(_line(i) for i in b["inspectors"])
        blobs[f"conflicts-{p['bureau']}.json"] = _line({"conflicts": b["conflicts"]})
    outcome = dict(row.outcome or {})  # set once drawn (_drawn)
    outcome["outcome"] = row.status
    blobs["outcome.json"] = _line(outcome)
    blobs["verify.py"] = VERIFY.read_bytes()
    blobs["verify_joint.py"] = VERIFY_JOINT.read_bytes()
    names = bundle_files(plan)
    for stale in other_bundle_files(out, names):
        stale.unlink(missing_ok=True)
    _remove_bytecode(out)
    for name in names:  # verify.py with its source's mode, as a copy keeps it
        mode = stat.S_IMODE(VERIFY.stat().st_mode) if name == "verify.py" else 0o644
        write_atomic(out / name, blobs[name], mode)
    manifest = "".join(f"{hashlib.sha256(blobs[n]).hexdigest()}  {n}\n" for n in names)
    write_atomic(out / "MANIFEST.sha256", manifest.encode("utf-8"))
    return names
