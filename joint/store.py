"""What a bureau holds of joint rounds (``joint_round``, ``joint_statement``) and how a signed
statement from a partner is accepted: the receiver's rules of docs/exchange-protocol.md,
"Joint rounds" (statement checks, deadlines, refused reveals kept as evidence)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from draw.canonical import canonical_json
from exchange.directory import Partner
from joint.frames import check_payload
from joint.models import JointRound, JointStatement
from joint.protocol import (
    Decision,
    JointError,
    decide,
    finding_fault,
    open_envelope,
    statement_hash,
    valid_reveal,
)
from joint.replacements import accept_replacement, teams_now
from shuangsui.errors import Conflict, NotFound

logger = logging.getLogger(__name__)
KINDS = {"joint-commit": "commit", "joint-reveal": "reveal", "joint-finding": "finding",
         "joint-replacement": "replacement"}  # fmt: skip
# kinds held besides: "bad-reveal" (refused, evidence), "announced" (a commitment POSTed by its
# signer without its frames, too large for our route: held in time, its frames pulled later)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def plan_of(row: JointRound) -> dict[str, Any]:
    return json.loads(row.plan_json)  # type: ignore[no-any-return]


def get_joint(engine: Engine, joint: str) -> JointRound:
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(JointRound, joint)
    if row is None:
        raise NotFound(f"joint round {joint}: this bureau has not committed to it")
    return row


def held(
    engine: Engine, joint: str, kinds: tuple[str, ...] = ("commit", "reveal")
) -> list[JointStatement]:
    with Session(engine, expire_on_commit=False) as s:
        q = select(JointStatement).where(JointStatement.joint_key == joint)
        return [r for r in s.exec(q).all() if r.kind in kinds]


# refused reveals of one bureau kept as evidence in a joint round (each is its signed proof of
# a nonce that does not open its commitment; the first already is): a partner sending more
# made a row, a status line and a bundle entry each, without limit
BAD_REVEALS_KEPT = 3


def store(
    engine: Engine,
    joint: str,
    kind: str,
    st: Mapping[str, Any],
    envelope: Mapping[str, Any],
    payload: str = "",
    now: dt.datetime | None = None,
) -> None:
    key = (joint, st["bureau"], kind, statement_hash(st))
    with Session(engine) as s:
        if s.get(JointStatement, key) is None:
            s.add(
                JointStatement(
                    joint_key=joint,
                    bureau=st["bureau"],
                    kind=kind,
                    digest=key[3],
                    envelope=canonical_json(dict(envelope)).decode(),
                    payload=payload,
                    received_at=now or now_utc(),
                )
            )
            try:
                s.commit()
            except IntegrityError:  # the same statement, stored by a concurrent request
                s.rollback()


# ---------------------------------------------------------------- what partners send us
def receive(
    engine: Engine,
    me_code: str,
    sender: Partner,
    envelope: Any,
    payload: str,
    now: dt.datetime | None = None,
) -> str:
    """Accept one signed statement from ``sender`` (a verified partner). JointError (422) for
    a statement that does not check, Conflict (409) for one that comes too late or too early.
    A reveal that does not open the sender's commitment is kept as evidence, then refused."""
    now = now or now_utc()
    st = open_envelope(envelope, sender.keys)
    if st["bureau"] != sender.code:
        raise JointError(
            f"statement.bureau: {st['bureau']}, but the request is signed by {sender.code}"
        )
    return accept(engine, me_code, st, envelope, payload, now)


def accept(
    engine: Engine,
    me_code: str,
    st: dict[str, Any],
    envelope: Any,
    payload: str,
    now: dt.datetime,
    relayed: bool = False,
) -> str:
    """``relayed``: pulled from a participant that accepted it (and checked the deadline)."""
    joint, kind = st["joint"], KINDS[st["type"]]
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(JointRound, joint)
    plan = plan_of(row) if row else None
    ours = row.plan_hash if row else ""
    if plan is not None and st["joint_plan_hash"] != ours:
        raise JointError(
            f"joint_plan_hash: {st['joint_plan_hash'][:12]}… is not the plan this "
            f"bureau committed to ({ours[:12]}…)"
        )
    if plan is not None and st["bureau"] not in [p["bureau"] for p in plan["participants"]]:
        raise JointError(f"bureau {st['bureau']} is not a participant of {joint}")
    digest = statement_hash(st)
    with Session(engine) as s:
        if s.get(JointStatement, (joint, st["bureau"], kind, digest)) is not None:
            return f"{kind} already held"
    if kind == "commit" and not payload:
        return _announced(engine, row, st, envelope, now, relayed)
    if kind == "commit":
        since = now
        if plan is not None:
            check_payload(plan, st, payload)
            if _closed(row, now):
                since = _held_in_time(engine, joint, st, digest, now)  # else refused as late
        store(engine, joint, "commit", st, envelope, payload, since)
        return "commitment held"
    if plan is None:
        raise Conflict(f"joint round {joint}: this bureau has not committed to it yet")
    if kind == "finding":
        assert row is not None  # a plan is held, so is its row
        _check_finding(engine, row, me_code, st)
        store(engine, joint, "finding", st, envelope, "", now)
        return "finding held"
    if kind == "replacement":  # checked against the teams drawn here (joint.replacements)
        return accept_replacement(engine, me_code, joint, st, envelope, now)
    commits = [
        json.loads(c.envelope)["statement"]
        for c in held(engine, joint, ("commit",))
        if c.bureau == st["bureau"]
    ]
    if not commits:
        raise Conflict(f"joint round {joint}: no commitment of {st['bureau']} is held here")
    if now > at(plan["reveal_deadline"]) and not relayed:
        raise Conflict(
            f"joint round {joint}: the reveal deadline {plan['reveal_deadline']} "
            "has passed (rule withheld-fails)"
        )
    why = valid_reveal(commits[0], st)
    if why:
        held_already = sum(r.bureau == st["bureau"] for r in held(engine, joint, ("bad-reveal",)))
        if held_already >= BAD_REVEALS_KEPT:  # evidence enough: the rest would only pile up
            raise JointError(f"reveal of {st['bureau']} refused, not kept ({held_already} of "
                             f"its refused reveals are kept already): {why}")  # fmt: skip
        store(engine, joint, "bad-reveal", st, envelope, "", now)
        logger.warning(
            "joint round %s: %s revealed a nonce that does not open its commitment",
            joint,
            st["bureau"],
        )
        raise JointError(f"reveal of {st['bureau']} refused and kept as evidence: {why}")
    store(engine, joint, "reveal", st, envelope, "", now)
    return "reveal held"


def _closed(row: JointRound | None, now: dt.datetime) -> bool:
    """Commitments are closed here: the commit deadline passed (our clock), or we revealed or
    withdrew (a nonce revealed: a commitment first held after it could be chosen with it)."""
    return row is not None and (
        row.status != "committed" or now > at(plan_of(row)["commit_deadline"])
    )


def _held_in_time(
    engine: Engine, joint: str, st: Mapping[str, Any], digest: str, now: dt.datetime
) -> dt.datetime:
    """When a commitment arriving once commitments are closed was held here all the same: this
    very statement, held without its frames while they were open (``announced``, §13.3: its
    hashes bind the frames, so only the frames arrive late), or, for a bureau with a
    commitment held here already, now (a second one, however late: evidence of equivocation).
    Else Conflict, saying what happened and what can be done."""
    bureau = st["bureau"]
    mine = [r for r in held(engine, joint, ("commit", "announced")) if r.bureau == bureau]
    same = [r.received_at for r in mine if r.kind == "announced" and r.digest == digest]
    if same:
        return min(same)
    if any(r.kind == "commit" for r in mine):
        return now
    row = get_joint(engine, joint)
    closed = (f"joint round {joint}: commitments are closed (the commit deadline "
              f"{plan_of(row)['commit_deadline']} passed, or this bureau has revealed or "
              "withdrawn it)")  # fmt: skip
    if row.status == "withdrawn":
        raise Conflict(closed)
    raise Conflict(
        f"{closed}, and nothing of the commitment of {bureau} was held here before (not even "
        "without its frames, as a lead whose commitment is too large to send sends it): it "
        "cannot count here, and the round fails here as missing-commitment (§13.3). To go on, "
        "the coordinators agree a rerun, a new joint plan naming this one in replaces, and "
        "each partner that commits before the lead runs `shuangsui joint pull` once the lead "
        "has committed, before the commit deadline"
    )


def _announced(
    engine: Engine,
    row: JointRound | None,
    st: dict[str, Any],
    envelope: Any,
    now: dt.datetime,
    relayed: bool,
) -> str:
    """A commitment POSTed by its signer without its frames (``payload`` empty): its push with
    them was too large for our route (a lead's enterprise frame). Held as ``announced`` while
    commitments are open: the proof, on our own clock, that the statement existed in time;
    its frames, which its hashes bind, come by a pull, even after the commit deadline
    (:func:`_held_in_time`). It does not count before its frames are held (``decide``:
    waiting for them, never ``missing-commitment``)."""
    joint, bureau = st["joint"], st["bureau"]
    if relayed:
        raise JointError(f"commitment of {bureau}: its frames are needed (a commitment is taken "
                         "without them only from its signer)")  # fmt: skip
    if row is None:
        raise Conflict(
            f"joint round {joint}: this bureau has not committed to it yet; it takes the "
            f"commitment of {bureau} with its frames by the pull its `joint commit` makes"
        )
    digest = statement_hash(st)
    mine = [r for r in held(engine, joint, ("commit", "announced")) if r.bureau == bureau]
    if any(r.digest == digest and r.kind == "announced" for r in mine):
        return "commitment already held without its frames"
    if mine:
        raise Conflict(
            f"joint round {joint}: a commitment of {bureau} is held here already; another is "
            "taken only with its frames (it is evidence of equivocation)"
        )
    if _closed(row, now):
        raise Conflict(
            f"joint round {joint}: commitments are closed (the commit deadline "
            f"{plan_of(row)['commit_deadline']} passed, or this bureau has revealed or "
            "withdrawn it)"
        )
    store(engine, joint, "announced", st, envelope, "", now)
    return "commitment held without its frames: this bureau takes them by a pull"


def announced(engine: Engine, joint: str, plan_hash: str) -> set[str]:
    """The bureaus whose commitment for our plan is held here without its frames alone."""
    rows = held(engine, joint, ("commit", "announced"))
    framed = {r.bureau for r in rows if r.kind == "commit"}
    return {
        r.bureau
        for r in rows
        if r.kind == "announced"
        and r.bureau not in framed
        and json.loads(r.envelope)["statement"]["joint_plan_hash"] == plan_hash
    }


def _check_finding(engine: Engine, row: JointRound, me_code: str, st: Mapping[str, Any]) -> None:
    """A finding goes to the lead once the lead has drawn, and is the signer's part of a team
    as it stands (``finding_fault``, the replacements held applied): held unchecked, one
    naming inspectors nobody drew went into the lead's log as the joint result."""
    joint = row.joint_key
    if row.lead != me_code:
        raise Conflict(f"joint round {joint}: findings go to the lead, {row.lead}")
    if row.status == "failed":
        raise Conflict(f"joint round {joint} failed: it takes no findings")
    if row.status != "drawn" or not row.outcome:
        raise Conflict(
            f"joint round {joint}: this bureau (the lead) has not drawn joint round {joint} "
            "yet; send the finding again once it has"
        )
    fault = finding_fault(teams_now(engine, row), st)
    if fault:
        raise JointError(f"finding of {st['bureau']} refused: {fault}")


def state(engine: Engine, joint: str) -> dict[str, Any]:
    """What we hold of a joint round, for partners: commitments (with frames), reveals and
    replacements (§13.7)."""
    rows = held(engine, joint, ("commit", "reveal", "replacement"))
    return {
        "joint": joint,
        "statements": [
            {"kind": r.kind, "envelope": json.loads(r.envelope), "payload": r.payload}
            for r in sorted(rows, key=lambda r: (r.kind, r.bureau, r.digest))
        ],
    }


def by_bureau(
    engine: Engine, joint: str
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Commitments and reveals held for our joint plan, by bureau. Statements that reached us
    before we committed were not checked then: one for another plan, or a commitment whose
    frames differ from it, does not count."""
    row = get_joint(engine, joint)
    plan = plan_of(row)
    commits: dict[str, list[dict[str, Any]]] = {}
    reveals: dict[str, list[dict[str, Any]]] = {}
    for r in held(engine, joint):
        st = json.loads(r.envelope)["statement"]
        if st["joint_plan_hash"] != row.plan_hash:
            continue
        if r.kind == "commit" and not frames_fit(plan, st, r.payload):
            continue
        (commits if r.kind == "commit" else reveals).setdefault(r.bureau, []).append(st)
    return commits, reveals


_FIT: OrderedDict[tuple[bytes, str, bytes], bool] = OrderedDict()
_FIT_LOCK = threading.Lock()
FITS_KEPT = 512


def frames_fit(plan: Mapping[str, Any], st: Mapping[str, Any], payload: str) -> bool:
    """Whether ``payload`` holds the frames the commitment ``st`` commits to, for ``plan``
    (``check_payload``). A pure function of the three, remembered by their digests in this
    process: the 联合抽查 pages and every status and decision read each held commitment again,
    and a lead's frames of 8,000 enterprises took 0.13-0.21 s to check each time (hashing the
    three to look it up, about a millisecond)."""
    key = (
        hashlib.sha256(canonical_json(plan)).digest(),
        statement_hash(st),
        hashlib.sha256(payload.encode("utf-8", "surrogatepass")).digest(),
    )
    with _FIT_LOCK:  # the server's threads share it
        if key in _FIT:
            _FIT.move_to_end(key)
            return _FIT[key]
    try:
        check_payload(plan, st, payload)
        fit = True
    except JointError:
        fit = False
    with _FIT_LOCK:
        _FIT[key] = fit
        if len(_FIT) > FITS_KEPT:
            _FIT.popitem(last=False)
    return fit


def decision(engine: Engine, joint: str, now: dt.datetime | None = None) -> Decision:
    row = get_joint(engine, joint)
    commits, reveals = by_bureau(engine, joint)
    waiting = announced(engine, joint, row.plan_hash)
    return decide(plan_of(row), commits, reveals, now or now_utc(), waiting)
