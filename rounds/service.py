"""A round's life in the database: commit the plan and frames, fix the entropy, draw once.

The algorithm is ``draw`` (pure); this module decides *when* each step may happen and makes
each step durable and idempotent:

* ``commit_round`` freezes the plan and the frames (stored as canonical bytes) and names the
  public entropy the round will use. Committing the same round key again returns the first
  commitment unchanged.
* ``draw_round`` gathers that entropy (it waits, never falls back), runs the draw and writes
  selection, teams and the queued notifications in one transaction guarded by the round's
  status, so a round key has exactly one draw however many times, or how concurrently, it runs.

Every attempt, failed ones included, lands in the hash-chained audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, NoReturn, cast

from sqlalchemy import CursorResult, Engine, update
from sqlmodel import Session, col, select

from draw import core
from draw.canonical import canonical_json, lp, sha256_hex
from draw.errors import FrameError, InfeasibleDraw
from draw.errors import PlanError as DrawPlanError
from draw.seed import CURRENT_VERSION
from registry.models import CheckItem
from rounds import artifacts, audit, disclosure
from rounds.artifacts import ARTIFACTS, artifact, load_inputs  # noqa: F401  (re-exported)
from rounds.entropy import (  # noqa: F401  (re-exported)
    EntropyInput,
    EntropySource,
    entropy_sources,
    gather_entropy,
    unnamed_entropy,
)
from rounds.entropy import entropy_plan as name_entropy
from rounds.models import (
    Assignment,
    AuditEvent,
    PlanVersion,
    Round,
    RoundArtifact,
    RoundKind,
    RoundStatus,
    Selection,
)
from rounds.plans import (  # noqa: F401
    apply_overrides,
    canonical_copy,
    check_against_registry,
    load_plan_text,
)
from rounds.preflight import Frames, build_frames, describe, preflight, refusals
from shuangsui import writes
from shuangsui.clock import local_label
from shuangsui.collector import collector_paused
from shuangsui.config import Settings, get_settings
from shuangsui.db import insert_rows, one_moment
from shuangsui.errors import (
    CommitHeld,
    DrawAlreadyMade,
    DrawNotRecorded,
    EntropyUnavailable,
    NotFound,
    PlanError,
    UserError,
)
from shuangsui.errors import InfeasibleDraw as UserInfeasible
from shuangsui.keys import check_round_key
from shuangsui.text import NOTE_MAX, REASON_MAX, no_control, no_control_in_text

logger = logging.getLogger(__name__)


# Called inside the draw's transaction with (session, round, result); notifications register
# here so a round's messages are written in the same transaction as its assignments.
AfterDraw = Callable[[Session, Round, core.DrawResult], object]  # the result is ignored
after_draw_hooks: list[AfterDraw] = []
# Called with nothing before a round is committed and before its draw is made (its entropy
# not yet gathered): checks that would otherwise fail inside the draw's transaction, after the
# draw was made. Notifications make the draw's messages from sample facts (their templates).
before_draw_hooks: list[Callable[[], object]] = []
# Called inside the commit's transaction with (session, round, enterprise frame): the leads mark
# the ones the frame targets as taken by this round, in the same commit.
AfterCommit = Callable[[Session, Round, Sequence[Any]], object]  # the result is ignored
after_commit_hooks: list[AfterCommit] = []

SELECTIONS = Selection.__table__  # type: ignore[attr-defined]
ASSIGNMENTS = Assignment.__table__  # type: ignore[attr-defined]
SELECTION_COLUMNS = ("round_key", "credit_code", "stratum", "kind", "rank", "ticket")
ASSIGNMENT_COLUMNS = ("round_key", "credit_code", "inspector_id", "position", "due_on")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------ commit
RECHECK_MARK = "复查"  # a reason containing it allows a round over firms another round checks
# A round's reasons (an ad hoc round's, published in its bundle's round.json; a held commit's
# --accept) are at most shuangsui.text.REASON_MAX; the API and the workspace's form hold to it.
NAME_MAX = 64  # the longest name of who asks for a round, as a coordinator token's (api.tokens)


def check_texts(
    *, reason: str = "", requested_by: str = "", accept: str = "", note: str = ""
) -> None:
    """What a person typed for a round, as every path to :func:`commit_round` and
    :func:`draw_round` must give it (the CLI's options, the API, the workspace's form, the
    flows' parameters): the reasons at most :data:`REASON_MAX` characters, line breaks
    allowed; who asks a name of at most :data:`NAME_MAX`; a change's note (a replacement's or a
    new date's, ``rounds.replacements``) at most :data:`NOTE_MAX`; none with a control or
    invisible character (a right-to-left override turns the text after it round wherever the
    reason shows: round.json, the site, the pages). ``UserError`` naming the parameter
    otherwise (``reason: ...``), which a caller may name as its own option."""
    rules = (
        ("reason", reason, REASON_MAX, no_control_in_text),
        ("requested_by", requested_by, NAME_MAX, no_control),
        ("accept", accept, REASON_MAX, no_control_in_text),
        ("note", note, NOTE_MAX, no_control_in_text),
    )
    for field, value, most, rule in rules:
        if len(value) > most:
            raise UserError(f"{field}: {len(value)} characters, at most {most}")
        try:
            rule(value)
        except ValueError as exc:
            raise UserError(f"{field}: {exc}") from None


def _differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Dotted paths where two canonical documents differ, with both values."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after)):
            out += _differences(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return out
    if before != after:
        return [f"{path or 'plan'}: committed {before!r}, asked {after!r}"]
    return []


def refuse_changed_arguments(session: Session, existing: Round, plan: Mapping[str, Any]) -> None:
    """A committed round is frozen: asking for it again with another plan, divisions or rates is
    refused with the differences, never answered with the old round as if they had been taken."""
    version = session.get(PlanVersion, existing.plan_hash)
    committed_plan = json.loads(version.canonical_json) if version else {}
    diffs = _differences(committed_plan, json.loads(canonical_json(plan)))
    if diffs:
        raise UserError(
            f"round {existing.round_key} was committed with other arguments and cannot change "
            f"(start a new round instead): {'; '.join(diffs)}"
        )


def _refuse_overlap(session: Session, plan: Mapping[str, Any], reason: str, *, source: str) -> None:
    """Two rounds of one check item over the same days would check the same firms twice (a
    targeted unit skips the exclusion window); only a re-check (复查) may, and says so."""
    start = dt.date.fromisoformat(plan["window"]["start"])
    end = dt.date.fromisoformat(plan["window"]["end"])
    others = session.exec(
        select(Round).where(
            col(Round.check_item_code) == plan["check_item"],
            col(Round.status) != RoundStatus.failed,
            col(Round.window_start) <= end,
            col(Round.window_end) >= start,
        )
    ).all()
    mine = plan["population"]["divisions"]

    def shares_ground(other: Round) -> bool:
        version = session.get(PlanVersion, other.plan_hash)
        theirs = json.loads(version.canonical_json)["population"]["divisions"] if version else [""]
        return any(a.startswith(b) or b.startswith(a) for a in mine for b in theirs)

    others = [r for r in others if shares_ground(r)]
    if others and RECHECK_MARK not in reason:
        names = ", ".join(
            f"{r.round_key} ({r.window_start.isoformat()} to {r.window_end.isoformat()})"
            for r in others
        )
        raise UserError(
            f"{source or 'plan'}: window: check item {plan['check_item']} is already checked in "
            f"this window by {names}; choose another window, or if this is a re-check give a "
            f"reason containing {RECHECK_MARK!r} (it is recorded)"
        )


def pseudonym_key(settings: Settings, round_key: str) -> bytes:
    """A round's pseudonym key: HMAC of the bureau's secret over the bureau and round key.

    Secret (the public cannot link pseudonyms to ids), different for every round (pseudonyms
    of two rounds are unlinkable), and the same for the same round, so that committing the same
    inputs gives the same draw on any database of the bureau. It is stored with the round's
    artifacts (rotating the secret does not touch earlier rounds) and handed to auditors per
    round: one round's key reveals nothing of another's."""
    msg = b"shuangsui pseudonym key" + lp(settings.bureau_code) + lp(round_key)
    secret = settings.secret_key.get_secret_value().encode("utf-8")
    return hmac.new(secret, msg, hashlib.sha256).digest()


@collector_paused()
def commit_round(
    *,
    engine: Engine,
    plan_text: str,
    plan_source: str = "",
    kind: RoundKind = RoundKind.scheduled,
    round_key: str | None = None,
    requested_by: str = "",
    reason: str = "",
    overrides: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    accept: str = "",
    draw_version: int = CURRENT_VERSION,
) -> Round:
    """Freeze the plan and the frames of a round and name its entropy. Idempotent per key.

    The preflight's reasons to hold (empty population, stale registry, a frame that moved too
    far) refuse the commit with :class:`CommitHeld`, leaving the key free, unless ``accept``
    gives the coordinator's reason, which the audit log keeps. A version 2 round (the default)
    gets its own secret pseudonym key: its inspectors appear in the public bundle only under
    pseudonyms (docs/draw-algorithm.md §12)."""
    check_texts(reason=reason, requested_by=requested_by, accept=accept)  # before anything
    settings = settings or get_settings()
    base_plan, _ = load_plan_text(plan_text, source=plan_source)
    plan = apply_overrides(base_plan, overrides or {})
    if kind is RoundKind.scheduled:
        round_key = round_key or base_plan["id"]
    elif not round_key:
        raise UserError("an ad hoc round needs a round key")
    check_round_key(round_key, field="round_key")  # it names files and URLs: the last gate
    if kind is RoundKind.adhoc and not reason.strip():
        raise UserError("an ad hoc round needs a reason (it is part of the audit record)")
    for check in before_draw_hooks:
        check()

    with Session(engine, expire_on_commit=False) as session:
        existing = session.get(Round, round_key)
        if existing is not None:
            refuse_changed_arguments(session, existing, plan)
            logger.info("round %s already committed at %s", round_key, existing.committed_at)
            return existing
        _refuse_overlap(session, plan, reason, source=plan_source)
        check_against_registry(
            plan,
            session.get(CheckItem, plan["check_item"]),
            bureau_code=settings.bureau_code,
            source=plan_source,
        )

    with one_moment(engine) as conn:  # the frames and the registry's freshness agree
        built = build_frames(conn, plan, source=plan_source)
        report = preflight(conn, plan, built=built)
    # The entropy is named once the frames are read, never before: a beacon round named first
    # (the next one, seconds away) could be emitted while the registry was still being read,
    # and what changed in it meanwhile would be in a frame fixed after its entropy existed.
    committed_at = _now()
    reasons = refusals(
        report,
        now=committed_at,
        max_age_days=settings.registry_max_age_days,
        max_change=settings.frame_change_limit,
    )
    held = [str(reason) for reason in reasons]  # the English the error and the audit log keep
    if held and not accept.strip():
        raise CommitHeld(round_key, held, describe(report), [r.kind for r in reasons])
    entropy_plan = name_entropy(settings, committed_at)
    ents, insps = built.enterprises, list(built.inspectors)
    conflicts, recent = built.conflicts, built.recent
    window_start = dt.date.fromisoformat(plan["window"]["start"])

    key = pseudonym_key(settings, round_key) if draw_version >= 2 else b""
    inputs = core.DrawInputs(round_key, plan, ents, insps, (), conflicts, recent, draw_version, key)
    try:
        com = core.commitments(inputs)
    except FrameError as exc:  # two pseudonyms alike (odds ~ n^2 / 2^65): refuse, never guess
        raise PlanError(f"round {round_key}: {exc}") from None
    constraints = {
        "conflicts": sorted(list(p) for p in conflicts),
        "recent_pairs": sorted(list(p) for p in recent),
    }
    blobs: dict[str, bytes | Iterable[bytes]] = {
        "plan.json": canonical_json(plan),
        "frame-enterprises.jsonl": artifacts.jsonl_pieces(ents),  # packed a piece at a time
        "frame-inspectors.jsonl": artifacts.jsonl(insps),
        "constraints.json": canonical_json(constraints),
    }
    if draw_version >= 2:
        blobs[artifacts.PSEUDONYMS] = canonical_json({"key": key.hex()})
    packed = {name: artifacts.pack(data) for name, data in blobs.items()}  # name -> (sha, gzip)
    row = Round(
        round_key=round_key,
        plan_id=plan["id"],
        plan_hash=com.plan_hash,
        check_item_code=plan["check_item"],
        kind=kind,
        period=plan["period"],
        requested_by=requested_by,
        reason=reason,
        overrides=dict(overrides or {}),
        window_start=window_start,
        window_end=dt.date.fromisoformat(plan["window"]["end"]),
        status=RoundStatus.committed,
        entropy_plan=entropy_plan,
        frame_commitment=com.frame_commitment,
        frame_merkle_root=com.frame_root,
        frame_size=com.frame_size,
        inspector_commitment=com.inspector_commitment,
        inspector_merkle_root=com.inspector_root,
        inspector_frame_size=com.inspector_size,
        constraints_commitment=com.constraints_commitment,
        draw_version=draw_version,
        public_inspector_commitment=com.public_inspector_commitment or None,
        public_recused_commitment=com.public_recused_commitment or None,
        committed_at=committed_at,
    )
    event = audit.RoundCommitted.of(row, exclusions=built.recently_inspected)
    accepted = audit.PreflightAccepted(requested_by, accept.strip(), held) if held else None

    def record(session: Session) -> tuple[Round, bool]:
        """The round, committed by this call (True)."""
        fresh = Round.model_validate(row.model_dump())  # a row rolled back is spent: a copy each
        _record_commit(session, fresh, com, plan, plan_text, plan_source, committed_at, packed,
                       event, accepted, built)  # fmt: skip
        return fresh, True

    def committed_meanwhile(session: Session) -> tuple[Round, bool] | None:
        """The round, committed by a concurrent commit of its key that won (False)."""
        existing = session.get(Round, round_key)
        return None if existing is None else (existing, False)

    def gave_up(collision: str) -> Exception:
        return RuntimeError(f"round {round_key}: could not commit: every attempt collided "
                            f"with other writers (the last collision: {collision})")  # fmt: skip

    # A collision (this round's key at the flush, another append on the audit log's head, or on
    # PostgreSQL a deadlock with a writer of a lead the commit targets) rolls the commit back
    # whole: then the round a concurrent commit made of its key, or another attempt.
    committed, by_us = writes.write(engine, record, what=f"round {round_key}: committing",
                                    decided=committed_meanwhile, gave_up=gave_up)  # fmt: skip
    if not by_us:
        return committed
    artifacts.remember_committed(round_key, packed, inputs)
    logger.info(
        "round %s committed: %d enterprises (commitment %s), %d inspectors",
        round_key, com.frame_size, com.frame_commitment[:12], com.inspector_size,
    )  # fmt: skip
    return committed


def _record_commit(
    session: Session, row: Round, com: Any, plan: dict[str, Any], plan_text: str,
    plan_source: str, committed_at: dt.datetime, packed: dict[str, tuple[str, bytes]],
    event: audit.RoundCommitted, accepted: audit.PreflightAccepted | None,
    built: Frames,
) -> None:  # fmt: skip
    """The commitment's rows in the caller's transaction: the plan version (once), the round,
    its artifacts, the audit event, what its frame's classes came from (the classification's
    run and overrides: ``risk.hooks``), the commit hooks (leads targeted) and an accepted
    hold."""
    if session.get(PlanVersion, com.plan_hash) is None:
        session.add(
            PlanVersion(
                plan_hash=com.plan_hash,
                plan_id=plan["id"],
                check_item_code=plan["check_item"],
                period=plan["period"],
                source=plan_source,
                yaml_text=plan_text,
                canonical_json=canonical_json(plan).decode(),
                loaded_at=committed_at,
            )
        )
    session.add(row)
    session.flush()
    for name, (digest, content) in packed.items():
        session.add(RoundArtifact(round_key=row.round_key, name=name, sha256=digest,
                                  content=content))  # fmt: skip
    audit.add_to(session, row.round_key, event)
    for named in built.classes_from:
        audit.add_to(session, row.round_key, named)
    for hook in after_commit_hooks:
        hook(session, row, built.enterprises)
    if accepted is not None:
        audit.add_to(session, row.round_key, accepted)


@collector_paused()
def draw_round(
    *,
    engine: Engine,
    round_key: str,
    entropy: EntropyInput | None = None,
    requested_by: str = "",
    beacon_transport: Any = None,
) -> Round:
    """Draw a committed round once. A drawn round is returned as it is (no re-roll). Who asks
    is held to :func:`check_texts`'s rule before anything (the draw and a refused second
    ceremony audit it), whichever path calls: the command, the flows, the workspace."""
    check_texts(requested_by=requested_by)
    with Session(engine, expire_on_commit=False) as session:
        rnd = session.get(Round, round_key)
        if rnd is None:
            raise NotFound(f"round {round_key} does not exist (commit it first)")
    if rnd.status is not RoundStatus.committed:
        return _decided(engine, rnd, entropy, requested_by)
    for check in before_draw_hooks:  # before the draw is made: a refusal here decides nothing
        check()
    try:
        records = gather_entropy(rnd, entropy or EntropyInput(), beacon_transport=beacon_transport)
    except EntropyUnavailable as exc:
        audit.append(engine, round_key, audit.EntropyAwaited(reason=str(exc)))
        raise
    with Session(engine, expire_on_commit=False) as session:
        inputs = load_inputs(session, round_key, records)
        recheck = not artifacts.is_fresh_from_commit(round_key)
    committed = core.Commitments(
        plan_hash=rnd.plan_hash,
        frame_commitment=rnd.frame_commitment,
        frame_root=rnd.frame_merkle_root,
        frame_size=rnd.frame_size,
        inspector_commitment=rnd.inspector_commitment,
        inspector_root=rnd.inspector_merkle_root,
        inspector_size=rnd.inspector_frame_size,
        constraints_commitment=rnd.constraints_commitment,
        public_inspector_commitment=rnd.public_inspector_commitment or "",
        public_inspector_size=rnd.inspector_frame_size if rnd.draw_version >= 2 else 0,
        public_recused_commitment=rnd.public_recused_commitment or "",
    )
    try:
        result = core.draw(inputs, committed, recheck=recheck)
        del inputs  # (the frame, which _persist lets go of once the round record is written)
    except InfeasibleDraw as exc:  # the entropy is kept: the failure has a bundle too
        if not _fail(engine, rnd, "infeasible", str(exc), records):
            return _decided(engine, get_round(engine, round_key), entropy, requested_by)
        raise UserInfeasible(f"round {round_key}: {exc}") from None
    except (DrawPlanError, FrameError) as exc:
        if not _fail(engine, rnd, "invalid", str(exc)):
            return _decided(engine, get_round(engine, round_key), entropy, requested_by)
        raise PlanError(f"round {round_key}: {exc}") from None
    _same_seed_as_lost_draws(engine, rnd, result.seed, entropy, requested_by)
    drawn = _persist(engine, rnd, result, records, requested_by)
    if drawn.status is not RoundStatus.drawn or drawn.seed != result.seed:
        # a concurrent attempt decided the round first (the compare-and-set in _persist)
        return _decided(engine, drawn, entropy, requested_by)
    return drawn


def _decided(engine: Engine, rnd: Round, entropy: EntropyInput | None, requested_by: str) -> Round:
    """A round no longer to be drawn: a failed one is refused, a drawn one returned as it is,
    unless this attempt brought other witness digits or another reveal: that is refused, and
    the refusal audited (a round key has exactly one draw)."""
    if rnd.status is RoundStatus.failed:
        raise UserInfeasible(f"round {rnd.round_key} failed and cannot be drawn: {rnd.last_error}")
    if entropy and (entropy.witness_digits or entropy.reveal) and not _same_entropy(rnd, entropy):
        _refuse_second_draw(engine, rnd, entropy, requested_by)
    return rnd


def _same_entropy(rnd: Round, given: EntropyInput) -> bool:
    """A retry of the ceremony that made the draw (same digits, same reveal) is not a new draw."""
    for record in rnd.entropy or []:
        if record.get("source") == "witness-digits" and given.witness_digits:
            return bool(record.get("digits") == given.witness_digits)
        if record.get("source") == "commit-reveal" and given.reveal:
            return bool(record.get("secret") == given.reveal.get("secret"))
    return False


def _same_seed_as_lost_draws(
    engine: Engine, rnd: Round, seed: str, given: EntropyInput | None, requested_by: str
) -> None:
    """A round whose draw was made and not recorded (``DrawNotRecorded`` in its audit log) is
    drawn again only with the same entropy: the same seed. Another seed means other digits or
    another reveal were entered after a draw had been made: refused and audited, as a second
    draw of a drawn round is, so a lost draw can never become a chance to draw again."""
    q = select(AuditEvent.payload).where(
        col(AuditEvent.round_key) == rnd.round_key,
        col(AuditEvent.event) == audit.DrawNotRecorded.__name__,
    )
    with Session(engine) as session:
        lost = {json.loads(payload)["seed"] for payload in session.exec(q)}
    if not lost or seed in lost:
        return
    offered = {
        "witness_digits": given.witness_digits if given else "",
        "witnesses": list(given.witnesses) if given else [],
        "reveal": dict(given.reveal) if given and given.reveal else None,
    }
    earlier = sorted(lost)
    audit.append(
        engine,
        rnd.round_key,
        audit.DrawRefused(seed=earlier[0], requested_by=requested_by,
                          offered_sha256=sha256_hex(canonical_json(offered))),
    )  # fmt: skip
    raise DrawAlreadyMade(
        f"round {rnd.round_key}: a draw with seed {earlier[0]} was made and could not be "
        f"recorded (DrawNotRecorded in the audit log); the entropy offered now gives seed "
        f"{seed}. Draw it again with the entropy of that draw (the same witness digits, the "
        "same reveal): other entropy would be a second draw of the round. The attempt is in "
        "the audit log"
    )


def _refuse_second_draw(
    engine: Engine, rnd: Round, given: EntropyInput, requested_by: str
) -> NoReturn:
    offered = {
        "witness_digits": given.witness_digits,
        "witnesses": list(given.witnesses),
        "reveal": dict(given.reveal) if given.reveal else None,
    }
    drawn_at = rnd.drawn_at.isoformat() if rnd.drawn_at else ""
    audit.append(
        engine,
        rnd.round_key,
        audit.DrawRefused(
            seed=rnd.seed or "",
            requested_by=requested_by,
            offered_sha256=sha256_hex(canonical_json(offered)),
            drawn_at=drawn_at,
        ),
    )
    when = local_label(rnd.drawn_at) if rnd.drawn_at else "earlier"
    raise DrawAlreadyMade(
        f"round {rnd.round_key} was drawn at {when} with seed {rnd.seed}; the entropy offered "
        "now was not used (a round key has exactly one draw) and the attempt is in the audit log"
    )


def _set_if_committed(session: Session, round_key: str, **values: Any) -> bool:
    """Set ``values`` on the round if it is still committed (a compare-and-set: of attempts at
    once, one decides the round); whether this one did."""
    update_ = update(Round).where(
        col(Round.round_key) == round_key, col(Round.status) == RoundStatus.committed
    )
    return bool(cast(CursorResult, session.execute(update_.values(**values))).rowcount)


def _fail(engine: Engine, rnd: Round, reason: str, error: str, records: list | None = None) -> bool:
    """Record the round as failed; False when a concurrent attempt decided it first."""
    with Session(engine, expire_on_commit=False) as session:
        won = _set_if_committed(
            session, rnd.round_key, status=RoundStatus.failed, last_error=error, entropy=records
        )
        if not won:
            session.rollback()
            return False
        audit.add_to(session, rnd.round_key, audit.DrawFailed(reason=reason, error=error))
        session.commit()
    logger.warning("round %s failed: %s", rnd.round_key, error)
    return True


# Attempts to record a draw (one transaction each) before giving up: each that loses the race
# for the audit log's head to another writer is rolled back and made again on the new head.
DRAW_ATTEMPTS = 10


def _persist(
    engine: Engine, rnd: Round, result: core.DrawResult, records: list, requested_by: str
) -> Round:
    """Record the draw in one write (``shuangsui.writes.write``: tried again from the start when
    another writer collides with it, on the audit log's head most often), if the round is still
    committed; the round as it is then (drawn by another attempt, if that decided it first).
    Raises :class:`DrawNotRecorded`, leaving the round committed, when every attempt collided;
    the audit log says so first, if it can (:func:`_audit_not_recorded`)."""
    counts = {
        s.stratum: {"eligible": s.eligible, "targeted": s.targeted, "excluded": s.excluded,
                    "quota": s.quota, "drawn": s.drawn, "rate": s.rate}
        for s in result.strata
    }  # fmt: skip
    due = rnd.window_end  # every check is due on the round's last day (notifications.hooks too)

    key = rnd.round_key

    def sel_rows() -> Iterator[tuple[Any, ...]]:  # made a chunk at a time, as they are written
        for s in result.selected:
            yield key, s.credit_code, s.stratum, s.kind, s.rank, s.ticket

    def asg_rows() -> Iterator[tuple[Any, ...]]:
        for code, team in result.teams.items():
            for pos, ins in enumerate(team):
                yield key, code, ins, pos, due

    selected = len(result.selected)
    assignments = sum(len(team) for team in result.teams.values())

    attempts = 0

    def record(session: Session) -> bool:
        """The draw's rows, its event and its hooks' rows; False, with nothing written, when a
        concurrent attempt drew the round first (the same inputs, the same draw)."""
        nonlocal attempts
        attempts += 1
        won = _set_if_committed(
            session, key, status=RoundStatus.drawn, seed=result.seed, entropy=records,
            counts=counts, drawn_at=_now(), last_error=None,
        )  # fmt: skip
        if not won:
            return False
        conn = session.connection()  # tuples by the DBAPI (COPY on PostgreSQL)
        for table, names, rows in (
            (SELECTIONS, SELECTION_COLUMNS, sel_rows()),
            (ASSIGNMENTS, ASSIGNMENT_COLUMNS, asg_rows()),
        ):
            while chunk := list(islice(rows, 5000)):
                insert_rows(conn, table, names, chunk)
        drawn = session.get(Round, key)
        assert drawn is not None
        event = audit.DrawMade(seed=result.seed, selected=selected, assignments=assignments,
                               counts=counts)  # fmt: skip
        audit.add_to(session, key, event)  # flushed at once: a collision on the log's head
        disclosure.reveal_at_draw(session, drawn, get_settings().timezone)
        # The round record (the reveal's hook) was the frame's last use in the draw: its
        # units are let go before the notices, which grow with the sample, are made.
        artifacts.release(key)
        for hook in after_draw_hooks:
            hook(session, drawn, result)
        return True

    def not_recorded(collision: str) -> DrawNotRecorded:
        lost = audit.DrawNotRecorded(seed=result.seed, requested_by=requested_by,
                                     attempts=DRAW_ATTEMPTS, collision=collision)  # fmt: skip
        _audit_not_recorded(engine, key, lost)
        return DrawNotRecorded(
            f"round {key}: the draw could not be recorded: {DRAW_ATTEMPTS} attempts in a row "
            f"collided with other writers (the last collision: {collision}). Nothing of it was "
            "kept and the round is still committed: draw it again (the same entropy gives the "
            "same draw)"
        )

    try:
        recorded = writes.write(engine, record, what=f"round {key}: recording the draw",
                                attempts=DRAW_ATTEMPTS, gave_up=not_recorded)  # fmt: skip
    except DrawNotRecorded:
        raise
    except Exception as exc:  # a hook's error, a database's: the draw was made all the same
        said = " ".join(str(exc).split())[:500] or type(exc).__name__
        _audit_not_recorded(engine, key, audit.DrawNotRecorded(
            seed=result.seed, requested_by=requested_by, attempts=attempts, collision="",
            error=f"{type(exc).__name__}: {said}",
        ))  # fmt: skip
        raise
    if recorded:
        logger.info("round %s drawn: seed %s, %d selected", key, result.seed[:16], selected)
    return get_round(engine, key)


def _audit_not_recorded(engine: Engine, round_key: str, event: audit.DrawNotRecorded) -> None:
    """The audit entry of a draw made and not recorded: an auditor sees every draw made, kept
    or not, and a later draw of the round is held to this one's seed
    (:func:`_same_seed_as_lost_draws`). Appended in short transactions of its own, each
    losing one retried after a random pause (``audit.append``): the draw's own long attempts
    have just lost the log's head to other writers. A failure even so is logged, with what the
    entry says, and the caller raises :class:`DrawNotRecorded` all the same."""
    try:
        audit.append(engine, round_key, event, attempts=DRAW_ATTEMPTS)
    except Exception:
        logger.error(
            "round %s: the draw not recorded (seed %s, %d attempts, requested by %s) could not "
            "be written to the audit log either",
            round_key, event.seed, event.attempts, event.requested_by or "-", exc_info=True,
        )  # fmt: skip


def get_round(engine: Engine, round_key: str) -> Round:
    with Session(engine, expire_on_commit=False) as session:
        rnd = session.get(Round, round_key)
    if rnd is None:
        raise NotFound(f"round {round_key} does not exist")
    return rnd
