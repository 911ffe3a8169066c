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
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from draw import core
from draw.canonical import canonical_json, lp
from draw.errors import FrameError, InfeasibleDraw
from draw.errors import PlanError as DrawPlanError
from draw.frame import build_enterprise_frame, build_inspector_frame
from draw.seed import CURRENT_VERSION
from registry.models import CheckItem
from rounds import artifacts, audit, frames
from rounds.artifacts import ARTIFACTS, artifact, load_inputs  # noqa: F401  (re-exported)
from rounds.entropy import (  # noqa: F401  (re-exported)
    EntropyInput,
    EntropySource,
    entropy_sources,
    gather_entropy,
)
from rounds.entropy import entropy_plan as name_entropy
from rounds.models import (
    Assignment,
    PlanVersion,
    Round,
    RoundArtifact,
    RoundKind,
    RoundStatus,
    Selection,
)
from rounds.plans import apply_overrides, canonical_copy, load_plan_text  # noqa: F401
from shuangsui.config import Settings, get_settings
from shuangsui.errors import EntropyUnavailable, NotFound, PlanError, UserError
from shuangsui.errors import InfeasibleDraw as UserInfeasible

logger = logging.getLogger(__name__)


# Called inside the draw's transaction with (session, round, result); notifications register
# here so a round's messages are written in the same transaction as its assignments.
AfterDraw = Callable[[Session, Round, core.DrawResult], object]  # the result is ignored
after_draw_hooks: list[AfterDraw] = []


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------ commit
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
    draw_version: int = CURRENT_VERSION,
) -> Round:
    """Freeze the plan and the frames of a round and name its entropy. Idempotent per key.

    A version 2 round (the default) gets its own secret pseudonym key: its inspectors appear
    in the public bundle only under pseudonyms (docs/draw-algorithm.md §12)."""
    settings = settings or get_settings()
    base_plan, _ = load_plan_text(plan_text, source=plan_source)
    plan = apply_overrides(base_plan, overrides or {})
    if kind is RoundKind.scheduled:
        round_key = round_key or base_plan["id"]
    elif not round_key:
        raise UserError("an ad hoc round needs a round key")
    if kind is RoundKind.adhoc and not reason.strip():
        raise UserError("an ad hoc round needs a reason (it is part of the audit record)")

    with Session(engine, expire_on_commit=False) as session:
        existing = session.get(Round, round_key)
        if existing is not None:
            logger.info("round %s already committed at %s", round_key, existing.committed_at)
            return existing
        if session.get(CheckItem, plan["check_item"]) is None:
            raise PlanError(
                f"{plan_source or 'plan'}: check_item: {plan['check_item']!r} is not in the "
                "check-item list (import it with `shuangsui registry import check-items`)"
            )

    committed_at = _now()
    entropy_plan = name_entropy(settings, committed_at)
    window_start = dt.date.fromisoformat(plan["window"]["start"])
    with engine.connect() as conn:
        exclusions = frames.recent_inspections(
            conn,
            check_item=plan["check_item"],
            window_start=window_start,
            months=plan["exclusions"]["window_months"],
        )
        ent_rows = frames.enterprise_rows(conn, plan)
        insp_rows = frames.inspector_rows(conn)
        try:
            ents = build_enterprise_frame(ent_rows, plan, exclusions)
            insps = build_inspector_frame(insp_rows)
        except (DrawPlanError, FrameError) as exc:
            raise PlanError(f"{plan_source or 'plan'}: {exc}") from None
        codes = {u.credit_code for u in ents}
        conflicts = frames.conflict_pairs(conn, codes)
        recent = frames.recent_pairs(conn, plan["teams"]["recuse_recent_rounds"])
        recent = frozenset(p for p in recent if p[1] in codes)

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
    blobs = {
        "plan.json": canonical_json(plan),
        "frame-enterprises.jsonl": artifacts.jsonl(ents),
        "frame-inspectors.jsonl": artifacts.jsonl(insps),
        "constraints.json": canonical_json(constraints),
    }
    if draw_version >= 2:
        blobs[artifacts.PSEUDONYMS] = canonical_json({"key": key.hex()})
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
    event = audit.RoundCommitted.of(row, exclusions=len(exclusions))
    for _attempt in range(10):
        with Session(engine, expire_on_commit=False) as session:
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
            for name, data in blobs.items():
                digest, packed = artifacts.pack(data)
                session.add(
                    RoundArtifact(round_key=round_key, name=name, sha256=digest, content=packed)
                )
            audit.add_to(session, round_key, event)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                existing = session.get(Round, round_key)
                if existing is not None:  # a concurrent commit of the same round won
                    return existing
                row = Round.model_validate(row.model_dump())
                continue
        artifacts.remember_committed(round_key, blobs, inputs)
        logger.info(
            "round %s committed: %d enterprises (commitment %s), %d inspectors",
            round_key, com.frame_size, com.frame_commitment[:12], com.inspector_size,
        )  # fmt: skip
        return row
    raise RuntimeError(f"round {round_key}: could not commit (audit log contention)")


def draw_round(
    *,
    engine: Engine,
    round_key: str,
    entropy: EntropyInput | None = None,
    requested_by: str = "",
    beacon_transport: Any = None,
) -> Round:
    """Draw a committed round once. A drawn round is returned as it is (no re-roll)."""
    with Session(engine, expire_on_commit=False) as session:
        rnd = session.get(Round, round_key)
        if rnd is None:
            raise NotFound(f"round {round_key} does not exist (commit it first)")
    if rnd.status is not RoundStatus.committed:
        if rnd.status is RoundStatus.failed:
            raise UserInfeasible(f"round {round_key} failed and cannot be drawn: {rnd.last_error}")
        if entropy and (entropy.witness_digits or entropy.reveal):
            audit.append(
                engine, round_key, audit.DrawRefused(seed=rnd.seed or "", requested_by=requested_by)
            )
        return rnd
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
    except InfeasibleDraw as exc:
        _fail(engine, rnd, "infeasible", str(exc))
        raise UserInfeasible(f"round {round_key}: {exc}") from None
    except (DrawPlanError, FrameError) as exc:
        _fail(engine, rnd, "invalid", str(exc))
        raise PlanError(f"round {round_key}: {exc}") from None
    return _persist(engine, rnd, result, records)


def _fail(engine: Engine, rnd: Round, reason: str, error: str) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.execute(
            update(Round)
            .where(
                col(Round.round_key) == rnd.round_key, col(Round.status) == RoundStatus.committed
            )
            .values(status=RoundStatus.failed, last_error=error)
        )
        audit.add_to(session, rnd.round_key, audit.DrawFailed(reason=reason, error=error))
        session.commit()
    logger.warning("round %s failed: %s", rnd.round_key, error)


def _persist(engine: Engine, rnd: Round, result: core.DrawResult, records: list) -> Round:
    counts = {
        s.stratum: {"eligible": s.eligible, "targeted": s.targeted, "excluded": s.excluded,
                    "quota": s.quota, "drawn": s.drawn, "rate": s.rate}
        for s in result.strata
    }  # fmt: skip
    due = rnd.window_end
    sel_rows = [
        {"round_key": rnd.round_key, "credit_code": s.credit_code, "stratum": s.stratum,
         "kind": s.kind, "rank": s.rank, "ticket": s.ticket}
        for s in result.selected
    ]  # fmt: skip
    asg_rows = [
        {"round_key": rnd.round_key, "credit_code": code, "inspector_id": ins,
         "position": pos, "due_on": due}
        for code, team in result.teams.items()
        for pos, ins in enumerate(team)
    ]  # fmt: skip
    for _attempt in range(10):
        with Session(engine, expire_on_commit=False) as session:
            won = cast(
                CursorResult,
                session.execute(
                    update(Round)
                    .where(
                        col(Round.round_key) == rnd.round_key,
                        col(Round.status) == RoundStatus.committed,
                    )
                    .values(
                        status=RoundStatus.drawn,
                        seed=result.seed,
                        entropy=records,
                        counts=counts,
                        drawn_at=_now(),
                        last_error=None,
                    )
                ),
            ).rowcount
            if not won:  # a concurrent attempt drew it first: same inputs, same draw
                session.rollback()
                break
            for chunk in _chunks(sel_rows, 5000):
                session.execute(insert(Selection), chunk)
            for chunk in _chunks(asg_rows, 5000):
                session.execute(insert(Assignment), chunk)
            drawn = session.get(Round, rnd.round_key)
            assert drawn is not None
            for hook in after_draw_hooks:
                hook(session, drawn, result)
            audit.add_to(
                session,
                rnd.round_key,
                audit.DrawMade(
                    seed=result.seed,
                    selected=len(sel_rows),
                    assignments=len(asg_rows),
                    counts=counts,
                ),
            )
            try:
                session.commit()
            except IntegrityError:  # the audit head moved under us; try again
                session.rollback()
                continue
            logger.info(
                "round %s drawn: seed %s, %d selected",
                rnd.round_key,
                result.seed[:16],
                len(sel_rows),
            )
            break
    with Session(engine, expire_on_commit=False) as session:
        final = session.get(Round, rnd.round_key)
        assert final is not None
        return final


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def get_round(engine: Engine, round_key: str) -> Round:
    with Session(engine, expire_on_commit=False) as session:
        rnd = session.get(Round, round_key)
    if rnd is None:
        raise NotFound(f"round {round_key} does not exist")
    return rnd
