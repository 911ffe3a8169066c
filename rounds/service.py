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

import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from draw import core
from draw.canonical import canonical_json
from draw.entropy import DrandBeacon
from draw.errors import EntropyInvalid, FrameError, InfeasibleDraw
from draw.errors import EntropyUnavailable as DrawEntropyUnavailable
from draw.errors import PlanError as DrawPlanError
from draw.frame import EnterpriseUnit, InspectorUnit, build_enterprise_frame, build_inspector_frame
from draw.plan import parse_plan
from registry.models import CertificateKind, CertificateStatus, CheckItem
from rounds import audit, frames
from rounds.models import (
    Assignment,
    PlanVersion,
    Round,
    RoundArtifact,
    RoundKind,
    RoundStatus,
    Selection,
)
from shuangsui.config import Settings, get_settings
from shuangsui.errors import EntropyUnavailable, NotFound, PlanError, UserError
from shuangsui.errors import InfeasibleDraw as UserInfeasible

logger = logging.getLogger(__name__)

ARTIFACTS = ("plan.json", "frame-enterprises.jsonl", "frame-inspectors.jsonl", "constraints.json")

# Called inside the draw's transaction with (session, round, result); notifications register
# here so a round's messages are written in the same transaction as its assignments.
AfterDraw = Callable[[Session, Round, core.DrawResult], None]
after_draw_hooks: list[AfterDraw] = []


@dataclass(frozen=True)
class EntropySource:
    """A public entropy source added from outside (the exchange adds ``partner-checkpoints``):
    ``plan(settings, committed_at)`` names it at commitment; ``gather(round, spec)`` returns its
    record or raises ``EntropyUnavailable``."""

    plan: Callable[[Settings, dt.datetime], dict[str, Any]]
    gather: Callable[[Round, Mapping[str, Any]], dict[str, Any]]


entropy_sources: dict[str, EntropySource] = {}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------ plans
def load_plan_text(text: str, *, source: str = "") -> tuple[dict[str, Any], str]:
    """Parse a YAML plan; errors name the file and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"{source or 'plan'}: not valid YAML: {exc}") from None
    try:
        plan = parse_plan(data)
    except DrawPlanError as exc:
        raise PlanError(f"{source or 'plan'}: {exc}") from None
    check_vocabulary(plan, source=source)
    return plan, text


def check_vocabulary(plan: Mapping[str, Any], *, source: str = "") -> None:
    """The draw treats certificate kinds and statuses as opaque strings; the registry does not.
    A plan naming a kind the registry never uses would silently draw from an empty frame."""
    checks = (
        ("population.cert_kinds", plan["population"]["cert_kinds"], CertificateKind),
        ("population.cert_statuses", plan["population"]["cert_statuses"], CertificateStatus),
    )
    for field_name, values, enum in checks:
        allowed = [e.value for e in enum]
        for i, value in enumerate(values):
            if value not in allowed:
                raise PlanError(
                    f"{source or 'plan'}: {field_name}.{i}: {value!r} is not one of "
                    f"{', '.join(allowed)}"
                )


def apply_overrides(plan: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """An ad hoc round may raise rates, cap the total or narrow the divisions; never lower a
    rate below the plan's (its rates are the legal minimums)."""
    from draw.plan import rate_fraction

    if not overrides:
        return plan
    doc = canonical_copy(plan)
    for key, value in overrides.items():
        if key == "rates":
            for cls, rate in dict(value).items():
                old = doc["strata"]["rates"].get(cls)
                if old is None:
                    raise PlanError(f"overrides.rates.{cls}: the plan has no rate for {cls}")
                if rate_fraction(str(rate)) < rate_fraction(old):
                    raise PlanError(
                        f"overrides.rates.{cls}: {rate} is below the plan's {old}; an ad hoc "
                        "round may only raise a rate"
                    )
                doc["strata"]["rates"][cls] = str(rate)
        elif key == "total_cap":
            doc["strata"]["total_cap"] = int(value)
        elif key == "divisions":
            doc["population"]["divisions"] = [str(d) for d in value]
        else:
            raise PlanError(
                f"overrides.{key}: unknown override (allowed: rates, total_cap, divisions)"
            )
    doc.pop("v", None)
    try:
        return parse_plan(doc)
    except DrawPlanError as exc:
        raise PlanError(f"overrides: {exc}") from None


def canonical_copy(obj: Any) -> Any:
    import json

    return json.loads(canonical_json(obj))


# ------------------------------------------------------------------ artifacts
def _pack(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), gzip.compress(data, compresslevel=6, mtime=0)


def _jsonl(units: Sequence[EnterpriseUnit] | Sequence[InspectorUnit]) -> bytes:
    """One canonical JSON object per line. Frame units hold only strings, integers, booleans
    and lists of them (no floats by construction), so plain ``json.dumps`` with canonical
    options gives the canonical bytes without a per-value check."""
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    return "".join([dumps(u.to_json()) + "\n" for u in units]).encode()


def artifact(session: Session, round_key: str, name: str) -> bytes:
    row = session.get(RoundArtifact, (round_key, name))
    if row is None:
        raise NotFound(f"round {round_key}: artifact {name} is missing")
    data = gzip.decompress(row.content)
    if hashlib.sha256(data).hexdigest() != row.sha256:
        from shuangsui.errors import IntegrityError as Broken

        raise Broken(f"round {round_key}: stored {name} does not match its hash")
    return data


@dataclass
class CommittedInputs:
    round: Round
    inputs: core.DrawInputs
    exclusions: dict[str, str] = field(default_factory=dict)


def load_inputs(
    session: Session, round_key: str, entropy: Sequence[Mapping[str, Any]] = ()
) -> core.DrawInputs:
    """The draw's inputs exactly as committed (each artifact checked against its SHA-256)."""
    blobs = {name: artifact(session, round_key, name) for name in ARTIFACTS}
    key = (round_key, *(hashlib.sha256(b).hexdigest() for b in blobs.values()))
    cached = _parsed.get(key)
    if cached is None:
        cached = _parse_inputs(round_key, blobs)
        _parsed.clear()  # keep only the last round: frames can hold a million units
        _parsed[key] = cached
    return dataclasses.replace(cached, entropy=[dict(r) for r in entropy])


# The last round's inputs, by round key and artifact hashes. An entry made by commit_round in
# this process holds the very objects its commitments were computed from.
_parsed: dict[tuple[str, ...], core.DrawInputs] = {}
_fresh_from_commit: set[tuple[str, ...]] = set()


def _inputs_are_the_committed_objects(round_key: str) -> bool:
    return any(k[0] == round_key for k in _fresh_from_commit & set(_parsed))


def _parse_inputs(round_key: str, blobs: Mapping[str, bytes]) -> core.DrawInputs:
    loads = json.loads
    cons = loads(blobs["constraints.json"])
    return core.DrawInputs(
        round_key=round_key,
        plan=loads(blobs["plan.json"]),
        enterprises=[
            EnterpriseUnit.from_json(loads(line))
            for line in blobs["frame-enterprises.jsonl"].splitlines()
        ],
        inspectors=[
            InspectorUnit.from_json(loads(line))
            for line in blobs["frame-inspectors.jsonl"].splitlines()
        ],
        conflicts=frozenset(tuple(p) for p in cons["conflicts"]),  # type: ignore[misc]
        recent_pairs=frozenset(tuple(p) for p in cons["recent_pairs"]),  # type: ignore[misc]
    )


# ------------------------------------------------------------------ commit
def _entropy_plan(settings: Settings, committed_at: dt.datetime) -> dict[str, Any]:
    """Name, at commitment, the public entropy the seed will take: it must not exist yet."""
    sources: list[dict[str, Any]] = []
    for name in settings.entropy_source_list:
        if name == "witness-digits":
            sources.append({"source": "witness-digits", "min_digits": 20})
        elif name == "beacon":
            if not (settings.beacon_url and settings.beacon_chain_hash):
                raise UserError(
                    "SHUANGSUI_ENTROPY_SOURCES names 'beacon' but SHUANGSUI_BEACON_URL or "
                    "SHUANGSUI_BEACON_CHAIN_HASH is not set"
                )
            beacon = DrandBeacon(settings.beacon_url, settings.beacon_chain_hash)
            try:
                round_no = beacon.round_after(committed_at)
            except DrawEntropyUnavailable as exc:
                raise EntropyUnavailable(f"cannot name the beacon round: {exc}") from None
            sources.append(
                {
                    "source": "beacon",
                    "url": settings.beacon_url,
                    "chain_hash": settings.beacon_chain_hash,
                    "round": round_no,
                    "expected_at": beacon.round_time(round_no).isoformat(),
                }
            )
        elif name in entropy_sources:
            sources.append(entropy_sources[name].plan(settings, committed_at))
        else:
            raise UserError(
                f"SHUANGSUI_ENTROPY_SOURCES: unknown source {name!r} (witness-digits, beacon)"
            )
    if not sources:
        raise UserError("SHUANGSUI_ENTROPY_SOURCES is empty: a round needs public entropy")
    return {"sources": sources}


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
) -> Round:
    """Freeze the plan and the frames of a round and name its entropy. Idempotent per key."""
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
    entropy_plan = _entropy_plan(settings, committed_at)
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

    inputs = core.DrawInputs(round_key, plan, ents, insps, (), conflicts, recent)
    com = core.commitments(inputs)
    constraints = {
        "conflicts": sorted(list(p) for p in conflicts),
        "recent_pairs": sorted(list(p) for p in recent),
    }
    blobs = {
        "plan.json": canonical_json(plan),
        "frame-enterprises.jsonl": _jsonl(ents),
        "frame-inspectors.jsonl": _jsonl(insps),
        "constraints.json": canonical_json(constraints),
    }
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
        committed_at=committed_at,
    )
    event = audit.RoundCommitted(
        plan_id=plan["id"],
        plan_hash=com.plan_hash,
        frame_commitment=com.frame_commitment,
        frame_merkle_root=com.frame_root,
        frame_size=com.frame_size,
        inspector_commitment=com.inspector_commitment,
        inspector_frame_size=com.inspector_size,
        entropy_plan=entropy_plan,
        kind=str(kind),
        requested_by=requested_by,
        reason=reason,
        exclusions=len(exclusions),
    )
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
                digest, packed = _pack(data)
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
        _parsed.clear()
        _fresh_from_commit.clear()
        fresh = (round_key, *(hashlib.sha256(blobs[n]).hexdigest() for n in ARTIFACTS))
        _parsed[fresh] = inputs
        _fresh_from_commit.add(fresh)
        logger.info(
            "round %s committed: %d enterprises (commitment %s), %d inspectors",
            round_key, com.frame_size, com.frame_commitment[:12], com.inspector_size,
        )  # fmt: skip
        return row
    raise RuntimeError(f"round {round_key}: could not commit (audit log contention)")


# ------------------------------------------------------------------ entropy and draw
@dataclass(frozen=True)
class EntropyInput:
    """Entropy given by people: a ceremony's digits, or a revealed secret."""

    witness_digits: str | None = None
    witnesses: tuple[str, ...] = ()
    reveal: Mapping[str, Any] | None = None


def gather_entropy(
    rnd: Round, given: EntropyInput, *, beacon_transport: Any = None
) -> list[dict[str, Any]]:
    """The raw entropy records the round committed to, in the committed order.

    Raises ``EntropyUnavailable`` with the reason when any is not available yet: the round waits.
    """
    from draw.entropy import WitnessDigits

    records: list[dict[str, Any]] = []
    for spec in rnd.entropy_plan["sources"]:
        source = spec["source"]
        if source == "witness-digits":
            if not given.witness_digits:
                raise EntropyUnavailable(
                    f"round {rnd.round_key}: waiting for the draw ceremony's witness digits "
                    f"(at least {spec['min_digits']}), entered after the commitment "
                    f"{rnd.frame_commitment[:16]}… was published"
                )
            try:
                records.append(WitnessDigits(given.witness_digits, given.witnesses).record())
            except EntropyInvalid as exc:
                raise UserError(f"witness digits: {exc}") from None
        elif source == "beacon":
            beacon = DrandBeacon(spec["url"], spec["chain_hash"], transport=beacon_transport)
            try:
                records.append(beacon.fetch(spec["round"]))
            except DrawEntropyUnavailable as exc:
                raise EntropyUnavailable(f"round {rnd.round_key}: {exc}") from None
        elif source in entropy_sources:
            records.append(entropy_sources[source].gather(rnd, spec))
        else:  # pragma: no cover - commit refuses unknown sources
            raise UserError(f"round {rnd.round_key}: unknown entropy source {source!r}")
    if given.reveal:
        records.append(dict(given.reveal))
    return records


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
        recheck = not _inputs_are_the_committed_objects(round_key)
    committed = core.Commitments(
        plan_hash=rnd.plan_hash,
        frame_commitment=rnd.frame_commitment,
        frame_root=rnd.frame_merkle_root,
        frame_size=rnd.frame_size,
        inspector_commitment=rnd.inspector_commitment,
        inspector_root=rnd.inspector_merkle_root,
        inspector_size=rnd.inspector_frame_size,
        constraints_commitment=rnd.constraints_commitment,
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
            .where(Round.round_key == rnd.round_key, Round.status == RoundStatus.committed)  # type: ignore[arg-type]
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
            won = session.execute(
                update(Round)
                .where(Round.round_key == rnd.round_key, Round.status == RoundStatus.committed)  # type: ignore[arg-type]
                .values(
                    status=RoundStatus.drawn,
                    seed=result.seed,
                    entropy=records,
                    counts=counts,
                    drawn_at=_now(),
                    last_error=None,
                )
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


def selection_of(engine: Engine, round_key: str) -> list[Selection]:
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.exec(  # type: ignore[call-overload]
                select(Selection)
                .where(Selection.round_key == round_key)
                .order_by(Selection.credit_code)
            ).scalars()
        )
