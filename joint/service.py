"""A joint round in one bureau's database: commit, receive, reveal, pull, draw, findings.

Every bureau runs the same steps on its own data (docs/exchange-protocol.md, "Joint rounds"):
``commit`` (its frames and H(nonce), signed, sent to every other participant), ``reveal`` (only
once it holds every participant's commitment, before the reveal deadline), ``draw`` (from every
commitment and reveal it holds or pulls; or the fixed failure once a deadline passed). Any
participant can draw: the outcome is a function of the signed statements alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from draw.canonical import canonical_json
from draw.frame import EnterpriseUnit
from exchange.directory import Partner
from exchange.errors import SyncRejected
from exchange.keys import BureauKey
from joint import client
from joint.draw import JointInfeasible, joint_draw
from joint.frames import bureau_frame, commitments, own_frames
from joint.models import JointRound, JointStatement
from joint.notify import notify_own_inspectors
from joint.plan import check_ahead, joint_plan_hash, read_joint_plan
from joint.protocol import (
    JointError,
    UnknownStatement,
    finding_fault,
    joint_seed,
    nonce_commitment,
    open_envelope,
    sign_statement,
    statement_hash,
)
from joint.replacements import lock_round, teams_now
from joint.store import (
    KINDS,
    accept,
    at,
    decision,
    get_joint,
    held,
    now_utc,
    plan_of,
    store,
)
from shuangsui.db import one_moment
from shuangsui.errors import Conflict, EntropyUnavailable, UserError
from shuangsui.writes import write

logger = logging.getLogger(__name__)
__all__ = ["Bureau", "commit", "decision", "draw", "get_joint", "held", "plan_of", "pull",
           "push", "reveal", "send_finding"]  # fmt: skip


@dataclass
class Bureau:
    """Who we are: our code, our key, our partner directory (and, in tests, a transport)."""

    code: str
    key: BureauKey
    partners: Mapping[str, Partner]
    transport: httpx.BaseTransport | None = None
    sent: list[str] = field(default_factory=list)  # what the last push did, for the CLI
    pulled: list[str] = field(default_factory=list)  # what the last pull refused, for the CLI


# ---------------------------------------------------------------- commit
def commit(
    engine: Engine, me: Bureau, plan_text: str, *, now: dt.datetime | None = None
) -> JointRound:
    """Build our frames, draw our secret nonce, sign our commitment and keep it; then send it
    (with the frames) to every other participant. Idempotent for the same plan."""
    now = now or now_utc()
    plan = read_joint_plan(plan_text)
    joint, phash = plan["joint"], joint_plan_hash(plan)
    codes = [p["bureau"] for p in plan["participants"]]
    if me.code not in codes:
        raise UserError(f"participants: this bureau ({me.code}) is not one of {', '.join(codes)}")
    with Session(engine, expire_on_commit=False) as s:
        existing = s.get(JointRound, joint)
        if existing is not None:
            if existing.status == "withdrawn":
                raise UserError(f"joint round {joint} is withdrawn here: start a new joint key")
            if existing.plan_hash != phash:
                raise Conflict(
                    f"joint round {joint} was committed with another plan "
                    f"({existing.plan_hash[:12]}); start a new joint key"
                )
            push(engine, me, joint)
            pull(engine, me, joint, now, committing=True)
            return existing
        if "replaces" in plan:
            _refuse_withholders(s, plan)
    check_ahead(plan, now)  # passed, or further than a month ahead: named
    for b in codes:
        if b != me.code and b not in me.partners:
            raise UserError(f"participants: bureau {b} is not in the partner directory")
    with one_moment(engine) as conn:  # the frames of one registry, not of two imports
        payload = own_frames(conn, plan, me.code)
    nonce = secrets.token_hex(32)
    statement = {
        "v": 1,
        "type": "joint-commit",
        "joint": joint,
        "joint_plan_hash": phash,
        "bureau": me.code,
        "nonce_commitment": nonce_commitment(joint, me.code, nonce),
        **commitments(plan, me.code, payload),
    }
    envelope = sign_statement(statement, me.key.origin, me.key.private)
    row = JointRound(
        joint_key=joint,
        plan_hash=phash,
        plan_json=canonical_json(plan).decode(),
        lead=plan["lead"],
        nonce=nonce,
        status="committed",
        created_at=now,
    )
    with Session(engine, expire_on_commit=False) as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:  # a concurrent commit of this joint round won: its nonce counts
            s.rollback()
            return commit(engine, me, plan_text, now=now)
    store(engine, joint, "commit", statement, envelope, canonical_json(payload).decode(), now)
    logger.info(
        "joint round %s: committed (inspectors %s)", joint, statement["inspector_commitment"][:12]
    )
    push(engine, me, joint)
    pull(engine, me, joint, now, committing=True)  # what could not be pushed to us (too large)
    return row


def _refuse_withholders(session: Session, plan: Mapping[str, Any]) -> None:
    """Rule withheld-fails: a bureau that withheld in the round this one replaces is out."""
    old = session.get(JointRound, plan["replaces"])
    if old is None or old.status not in ("failed", "withdrawn") or not old.outcome:
        raise UserError(
            f"replaces: joint round {plan['replaces']} is not a failed or withdrawn joint round "
            "of this bureau"
        )
    failure = old.outcome.get("failure", {})
    # a second commitment is the withholder's veto by other means: the last to reveal knows the
    # draw, and signing another commitment instead of revealing failed the round as well; let
    # back into the rerun, it could veto each draw it did not like until one suited it
    did = {"withheld": "withheld its reveal", "equivocation": "signed two commitments"}
    out = set(failure.get("bureaus", ())) if failure.get("reason") in did else set()
    back = out & {p["bureau"] for p in plan["participants"]}
    if back:
        raise UserError(
            f"participants: {', '.join(sorted(back))} {did[failure['reason']]} in "
            f"{plan['replaces']} and may not take part in the round replacing it"
        )


# ---------------------------------------------------------------- exchange with partners
def _others(me: Bureau, plan: Mapping[str, Any]) -> list[Partner]:
    out = []
    for p in plan["participants"]:
        if p["bureau"] != me.code:
            if p["bureau"] not in me.partners:
                raise UserError(
                    f"participants: bureau {p['bureau']} is not in the partner "
                    "directory (or is disabled there)"
                )
            out.append(me.partners[p["bureau"]])
    return out


ORDER = ("commit", "reveal", "replacement")  # the order a partner can take our statements in


def _in_order(rows: list[JointStatement]) -> list[JointStatement]:
    """Commitment, reveal, then replacements by ``n`` (each is checked against the last)."""

    def key(r: JointStatement) -> tuple[int, int]:
        n = json.loads(r.envelope)["statement"].get("n", 0) if r.kind == "replacement" else 0
        return ORDER.index(r.kind), n

    return sorted(rows, key=key)


def push(engine: Engine, me: Bureau, joint: str) -> list[str]:
    """Send our own statements (commitment with frames; reveal once made; our replacements)
    to every other participant. A partner that is down misses them for now: it can pull them
    from us."""
    plan = plan_of(get_joint(engine, joint))
    mine = [r for r in held(engine, joint, ORDER) if r.bureau == me.code]
    me.sent = []
    for partner in _others(me, plan):
        for r in _in_order(mine):
            envelope = json.loads(r.envelope)
            try:
                client.post_statement(partner, me.key, joint, envelope, r.payload, me.transport)
                me.sent.append(f"{r.kind} -> {partner.code}: ok")
            except client.Refused as exc:
                if exc.status != 413:
                    me.sent.append(f"{r.kind} -> {partner.code}: {exc}")
                    continue
                announced = _announce(me, partner, joint, envelope) if r.kind == "commit" else None
                me.sent.append(
                    _too_large(partner.code, joint, plan, r, envelope, exc.detail, announced)
                )
            except SyncRejected as exc:
                me.sent.append(f"{r.kind} -> {partner.code}: {exc}")
    return me.sent


def _announce(
    me: Bureau, partner: Partner, joint: str, envelope: dict[str, Any]
) -> tuple[bool, str] | None:
    """Our commitment without its frames, to a partner that has committed to the round (its
    ``GET`` answers): whether it holds it and what it said, or None if it was not sent. Held
    there, it is proof on the partner's clock that our commitment existed in time, and the
    frames, which its hashes bind, count when its pull takes them, even after the deadline
    (§13.3). A partner that has not committed takes it with its frames by the pull of its own
    ``joint commit`` (before the commit deadline). A shuangsui that does not take a commitment
    without its frames refuses it (422: nothing held), and must pull in time."""
    try:
        client.get_state(partner, me.key, joint, me.transport)
    except SyncRejected:  # it has not committed (404), or is unreachable
        return None
    try:
        said = client.post_statement(partner, me.key, joint, envelope, "", me.transport)
    except SyncRejected as exc:
        return False, str(exc)
    return True, str(said.get("result"))


def _too_large(
    code: str,
    joint: str,
    plan: Mapping[str, Any],
    r: JointStatement,
    envelope: dict[str, Any],
    detail: str,
    announced: tuple[bool, str] | None = None,
) -> str:
    """What a 413 means for our statement and what to do. A lead's commitment carries its
    enterprise frame (about 150 bytes an enterprise, escaped in the body): past some 7,000
    enterprises it is larger than the 1 MiB a partner's route takes by default. The protocol
    lets a partner pull it (``GET``, answers up to 64 MiB), which its ``joint commit``,
    ``joint reveal`` and ``joint draw`` do first. ``announced``: what the partner said of our
    commitment sent without its frames (:func:`_announce`; None: not sent, it has not
    committed). Held without them there, the frames count when pulled, however late; else
    the commitment counts there only if pulled before the commit deadline."""
    size = len(canonical_json({"envelope": envelope, "payload": r.payload}))
    what = "commitment with its frames" if r.kind == "commit" else f"{r.kind}"
    head = (f"{r.kind} -> {code}: too large for its route (HTTP 413: {detail}): our {what} is "
            f"{size:,} bytes")  # fmt: skip
    pull = f"`shuangsui joint pull {joint}` there"
    if announced and announced[0]:
        return (f"{head}; sent without its frames, which its hashes bind, {code} holds it "
                f"({announced[1]}) and takes the frames by a pull ({pull}; `joint reveal` and "
                "`joint draw` pull first), before or after the commit deadline")  # fmt: skip
    by = f" before the commit deadline {plan['commit_deadline']}" if r.kind == "commit" else ""
    said = f"; sent without its frames, it was refused too ({announced[1]})" if announced else ""
    return (f"{head}{said}; {code} takes it by a pull ({pull}; `joint commit`, `joint reveal` "
            f"and `joint draw` pull first){by}")  # fmt: skip


def pull(
    engine: Engine,
    me: Bureau,
    joint: str,
    now: dt.datetime | None = None,
    *,
    committing: bool = False,
) -> list[str]:
    """Merge what every other participant holds: commitments (with frames) and reveals of
    ``joint``, each checked against its signer's directory key, as if it had been sent to us
    (one signed for another joint key is not taken: stored under that key, a key longer than
    the column or holding a NUL stopped the pull on PostgreSQL). A statement that does not
    check (its signature, a field of the wrong JSON type, ...) is not taken, nothing of it
    held, and named in a note; the pull goes on with the others. One of a type this protocol
    does not know (a newer participant's) is skipped, said in a note and logged. The notes
    are kept in ``me.pulled`` too: ``reveal`` and ``draw`` pull first, and their CLI says what
    was refused. ``commit`` pulls after its push (``committing``: a partner that has not
    committed yet, answering 404, is not noted), so that a lead's commitment too large to be
    pushed to us (its frames past our route's body limit) is held as soon as we commit."""
    now = now or now_utc()
    plan = plan_of(get_joint(engine, joint))
    codes = {p["bureau"] for p in plan["participants"]}
    keys = {code: me.partners[code].keys for code in codes if code in me.partners}
    keys[me.code] = (me.key.public,)
    notes: list[str] = []
    replacements: list[tuple[str, dict[str, Any]]] = []  # taken once the others are
    for partner in _others(me, plan):
        try:
            doc = client.get_state(partner, me.key, joint, me.transport)
        except client.Refused as exc:
            if not (exc.status == 404 and committing):  # 404: it has not committed yet
                notes.append(f"pull from {partner.code}: {exc}")
            continue
        except SyncRejected as exc:
            notes.append(f"pull from {partner.code}: {exc}")
            continue
        items = doc.get("statements", [])
        if not isinstance(items, list):  # null or a number stopped the pull with a TypeError
            notes.append(f"pull from {partner.code}: statements: a list is needed, not "
                         f"{_json_type(items)}")  # fmt: skip
            continue
        for item in items:
            if not isinstance(item, dict):
                notes.append(f"pull from {partner.code}: a statement not taken: not a JSON object")
                continue
            try:
                env = item["envelope"]
                st = open_envelope(env, keys.get(str(env["statement"].get("bureau")), ()))
                if st["joint"] != joint:  # signed for another round: not this one's to take
                    raise JointError(f"statement.joint: a statement of another round than {joint}")
                if item.get("kind") in ("commit", "reveal") and KINDS[st["type"]] == item["kind"]:
                    accept(
                        engine, me.code, st, env, str(item.get("payload", "")), now, relayed=True
                    )
                elif item.get("kind") == "replacement" == KINDS[st["type"]]:
                    replacements.append((partner.code, env))
            except UnknownStatement as exc:  # a newer partner's: skipped, the round goes on
                logger.info("joint round %s: pull from %s skipped %s", joint, partner.code, exc)
                notes.append(f"pull from {partner.code}: a statement skipped: {exc}")
            except (JointError, Conflict, KeyError, TypeError, AttributeError) as exc:
                notes.append(f"pull from {partner.code}: a statement not taken: {exc}")
    if get_joint(engine, joint).status == "drawn":  # checked against the teams drawn here
        notes += _merge_replacements(engine, me, replacements, now)
    me.pulled = notes
    return notes


def _json_type(value: Any) -> str:
    """What a JSON value is, for a note (the value itself may be 64 MiB)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    kinds = ((str, "a string"), (int, "a number"), (float, "a number"), (dict, "an object"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "a list")


def _merge_replacements(
    engine: Engine, me: Bureau, pulled: list[tuple[str, dict[str, Any]]], now: dt.datetime
) -> list[str]:
    """Take the replacements pulled, each bureau's in order of ``n`` (§13.7: each is checked
    against the teams with the bureau's earlier ones applied); the same one from two partners
    is held once."""
    notes = []
    for source, env in sorted(pulled, key=lambda p: _bureau_and_n(p[1]["statement"])):
        try:
            accept(engine, me.code, env["statement"], env, "", now, relayed=True)
        except (JointError, Conflict, KeyError, TypeError) as exc:
            notes.append(f"pull from {source}: a replacement not taken: {exc}")
    return notes


def _bureau_and_n(st: dict[str, Any]) -> tuple[str, int]:
    n = st.get("n")
    return str(st.get("bureau")), n if isinstance(n, int) and not isinstance(n, bool) else 0


# ---------------------------------------------------------------- reveal
def reveal(engine: Engine, me: Bureau, joint: str, *, now: dt.datetime | None = None) -> str:
    """Reveal our nonce: only when we hold every participant's commitment (and one each),
    before the reveal deadline. Sent to every other participant."""
    now = now or now_utc()
    row = get_joint(engine, joint)
    if row.status == "withdrawn":
        raise UserError(f"joint round {joint} is withdrawn here: nothing is revealed")
    if row.status != "committed":
        push(engine, me, joint)
        return f"already {row.status}"
    pull(engine, me, joint, now)
    d = decision(engine, joint, now)
    if d.state == "failed":
        raise UserError(
            f"joint round {joint} has failed ({d.reason}: {', '.join(d.bureaus)}); "
            "nothing is revealed"
        )
    if d.state == "waiting-commitments":
        raise EntropyUnavailable(
            f"joint round {joint}: waiting for the commitments of "
            f"{', '.join(d.bureaus)}; a nonce is revealed only once every "
            "commitment is held"
        )
    plan = plan_of(row)
    if now > at(plan["reveal_deadline"]):
        raise UserError(f"reveal_deadline: {plan['reveal_deadline']} has passed")
    mine = next(c for c in d.commits if c["bureau"] == me.code)
    statement = {
        "v": 1,
        "type": "joint-reveal",
        "joint": joint,
        "joint_plan_hash": row.plan_hash,
        "bureau": me.code,
        "commit": statement_hash(mine),
        "nonce": row.nonce,
    }
    envelope = sign_statement(statement, me.key.origin, me.key.private)
    status = _hold_reveal(engine, statement, envelope, now)
    if status != "revealed":  # withdrawn (or decided) here while we pulled: not revealed
        raise UserError(f"joint round {joint} is {status} here: nothing is revealed")
    push(engine, me, joint)
    return "revealed"


def _hold_reveal(
    engine: Engine, st: dict[str, Any], envelope: dict[str, Any], now: dt.datetime
) -> str:
    """Hold our reveal and mark the round revealed, in one transaction under the round's row
    lock, only while it is still ``committed`` here: a withdrawal (``joint.abandon``) recorded
    meanwhile wins, and the reveal is neither held (a partner's pull would take it) nor sent.
    The round's status, as it now stands."""
    joint = st["joint"]

    def work(session: Session) -> str:
        lock_round(session, joint)
        row = session.get(JointRound, joint, populate_existing=True)
        assert row is not None
        if row.status != "committed":
            return row.status
        key = (joint, st["bureau"], "reveal", statement_hash(st))
        if session.get(JointStatement, key) is None:
            session.add(JointStatement(joint_key=joint, bureau=st["bureau"], kind="reveal",
                                       digest=key[3], payload="", received_at=now,
                                       envelope=canonical_json(envelope).decode()))  # fmt: skip
        row.status = "revealed"
        session.add(row)
        return "revealed"

    return write(engine, work, what=f"reveal of joint round {joint}")


# ---------------------------------------------------------------- draw
def draw(engine: Engine, me: Bureau, joint: str, *, now: dt.datetime | None = None) -> JointRound:
    """Decide the joint round once: drawn (every reveal opens its commitment) or failed by the
    fixed rule (a deadline passed with a commitment or reveal missing; two commitments of one
    bureau; a bureau's inspectors cannot staff the teams). A decided round stays decided, and
    so does one withdrawn here (``joint.abandon``): it is returned as it stands.
    What the pull refused is in ``me.pulled`` (waiting, drawn or failed)."""
    now = now or now_utc()
    row = get_joint(engine, joint)
    if row.status in ("drawn", "failed", "withdrawn"):
        if row.status == "drawn":  # again: the partners' replacements, and the notices in
            pull(engine, me, joint, now)  # case they were not queued (idempotent)
            notify_own_inspectors(engine, joint, me.code)
        return row
    pull(engine, me, joint, now)
    d = decision(engine, joint, now)
    # when decided: after every statement the decision read arrived (the bundle holds those,
    # ``joint.bundle.as_decided``; one that came while the pull ran counts), and not before
    # ``now`` (what the pull took is stored at ``now``)
    decided = max(now, now_utc())
    if d.state.startswith("waiting"):
        which = "commitments" if d.state == "waiting-commitments" else "reveals"
        plan = plan_of(row)
        until = plan["commit_deadline" if which == "commitments" else "reveal_deadline"]
        raise EntropyUnavailable(
            f"joint round {joint}: waiting for the {which} of "
            f"{', '.join(d.bureaus)} (deadline {until})"
        )
    if d.state == "failed":
        return _fail(engine, joint, d.failure(), decided)
    plan = plan_of(row)
    seed = joint_seed(row.plan_hash, joint, d.commits, d.nonces)
    chosen = {statement_hash(c) for c in d.commits}  # the frames of the commitments that count
    payloads = {
        r.bureau: json.loads(r.payload)
        for r in held(engine, joint, ("commit",))
        if r.digest in chosen
    }
    ents = [EnterpriseUnit.from_json(e) for e in payloads[plan["lead"]]["enterprises"]]
    frames = {b: bureau_frame(p) for b, p in payloads.items()}
    try:
        result = joint_draw(seed, plan, ents, frames)
    except JointInfeasible as exc:
        return _fail(
            engine,
            joint,
            {
                "reason": "infeasible",
                "bureaus": [exc.bureau],
                "message": exc.message,
                "seed": seed.hex(),
            },
            decided,
        )
    if not _decided(engine, joint, status="drawn", outcome=result, decided_at=decided):
        return get_joint(engine, joint)  # another run decided it first: that decision stands
    logger.info("joint round %s drawn: seed %s", joint, seed.hex()[:16])
    queued = notify_own_inspectors(engine, joint, me.code)  # each bureau its own inspectors
    logger.info("joint round %s: %d notice(s) queued for our inspectors", joint, queued)
    return get_joint(engine, joint)


def _fail(engine: Engine, joint: str, failure: dict[str, Any], now: dt.datetime) -> JointRound:
    if _decided(engine, joint, status="failed", outcome={"failure": failure}, decided_at=now):
        logger.warning("joint round %s failed: %s", joint, failure)
    return get_joint(engine, joint)


DECIDED = ("drawn", "failed", "withdrawn")  # recorded once, never revisited (withdrawn: here)


def _decided(engine: Engine, joint: str, **decision: Any) -> bool:
    """Record ``decision`` unless the round was decided meanwhile; whether it was recorded.
    Two ``joint draw`` at one bureau each read the round undecided and decide from what their
    own pull held: a reveal arriving between the two pulls made one "failed" (withheld) and
    the other "drawn", and the later write replaced the earlier, so the bureau's decision (and
    the notices its inspectors were sent) changed after the fact. The first recorded stands:
    the update is conditional on the round still being undecided, in one statement (a
    withdrawal recorded meanwhile, ``joint.abandon``, stands the same way)."""
    table = JointRound.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(table)
            .where(table.c.joint_key == joint, table.c.status.not_in(DECIDED))
            .values(**decision)
        )
    return bool(done.rowcount == 1)


# ---------------------------------------------------------------- findings
def send_finding(
    engine: Engine, me: Bureau, joint: str, *, credit_code: str, outcome: str, inspected_on: str
) -> str:
    """A participant's finding for an enterprise of the joint round, signed, to the lead
    (kept by us too). The inspectors named are ours on that enterprise's team."""
    row = get_joint(engine, joint)
    if row.status != "drawn" or not row.outcome:
        raise UserError(f"joint round {joint} is not drawn")
    teams = teams_now(engine, row)  # the draw's, with the replacements held applied
    team = teams.get(credit_code, [])
    statement = {
        "v": 1,
        "type": "joint-finding",
        "joint": joint,
        "joint_plan_hash": row.plan_hash,
        "bureau": me.code,
        "credit_code": credit_code,
        "outcome": outcome,
        "inspected_on": inspected_on,
        "inspectors": [i for b, i in team if b == me.code],
    }
    fault = finding_fault(teams, statement)  # what the lead will check
    if fault:
        raise UserError(fault)
    envelope = sign_statement(statement, me.key.origin, me.key.private)
    store(engine, joint, "finding", statement, envelope)
    if row.lead == me.code:
        return "finding held (we lead)"
    lead = me.partners[row.lead]
    for r in _in_order([r for r in held(engine, joint, ("replacement",)) if r.bureau == me.code]):
        # our replacements first (held already: "already held"), so that the lead checks the
        # finding against the team as it stands
        client.post_statement(lead, me.key, joint, json.loads(r.envelope), "", me.transport)
    client.post_statement(lead, me.key, joint, envelope, "", me.transport)
    return f"finding sent to the lead {row.lead}"
