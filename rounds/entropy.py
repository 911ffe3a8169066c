"""Public entropy: named at commitment (it must not exist yet), gathered at the draw (the
round waits, never falls back). Sources: witness digits, a drand-style beacon, and any
registered from outside (the partner exchange registers ``partner-checkpoints``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from draw import verify_bundle as reference
from draw.entropy import DrandBeacon, WitnessDigits
from draw.errors import EntropyInvalid
from draw.errors import EntropyUnavailable as DrawEntropyUnavailable
from rounds.models import AuditEvent, Round
from shuangsui.config import Settings
from shuangsui.errors import EntropyUnavailable, UserError
from shuangsui.text import no_control


@dataclass(frozen=True)
class EntropySource:
    """A public entropy source added from outside (the exchange adds ``partner-checkpoints``):
    ``plan(settings, committed_at)`` names it at commitment; ``gather(round, spec)`` returns its
    record or raises ``EntropyUnavailable``."""

    plan: Callable[[Settings, dt.datetime], dict[str, Any]]
    gather: Callable[[Round, Mapping[str, Any]], dict[str, Any]]


entropy_sources: dict[str, EntropySource] = {}


def entropy_plan(settings: Settings, committed_at: dt.datetime) -> dict[str, Any]:
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
            lead = settings.beacon_lead
            try:  # after the commitment, and a lead after it: time to publish the commitment
                round_no = max(beacon.round_after(committed_at),
                               beacon.round_from(committed_at + lead))  # fmt: skip
            except DrawEntropyUnavailable as exc:
                raise EntropyUnavailable(f"cannot name the beacon round: {exc}") from None
            sources.append(
                {
                    "source": "beacon",
                    "url": settings.beacon_url,
                    "chain_hash": settings.beacon_chain_hash,
                    "round": round_no,
                    "expected_at": beacon.round_time(round_no).isoformat(),
                    "lead_seconds": lead // dt.timedelta(seconds=1),
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


def now() -> dt.datetime:
    """The clock a draw reads a beacon round's time against."""
    return dt.datetime.now(dt.UTC)


class BeaconPending(EntropyUnavailable):
    """The beacon round named is not due until ``expected_at``: nothing to try before then."""

    def __init__(self, message: str, expected_at: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.expected_at = expected_at


class BeaconUnavailable(EntropyUnavailable):
    """The beacon round named is due and the beacon did not serve it (unreachable, an error
    page, or the round not out yet): a transient failure, tried again later. A value served
    that does not verify is not this: it is refused (``draw.errors.EntropyInvalid``)."""

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url


RETRY_FIRST = dt.timedelta(minutes=5)
RETRY_MOST = dt.timedelta(hours=6)


def retry_at(due: dt.datetime, now: dt.datetime) -> dt.datetime:
    """When to try again a beacon round due at ``due`` and not served at ``now``: the first
    after ``now`` of due + 5 min, then each try twice as far from the last (10 min, 20 min,
    ...) and at most 6 hours from it. The tries are fixed by ``due`` alone, so every run that
    finds the beacon down between two tries names the same next one (one run is scheduled)."""
    at, gap = due + RETRY_FIRST, RETRY_FIRST
    while at <= now and gap < RETRY_MOST:
        gap = min(gap * 2, RETRY_MOST)
        at += gap
    if at <= now:  # 6 hours apart from here on
        at += ((now - at) // RETRY_MOST + 1) * RETRY_MOST
    return at


@dataclass(frozen=True)
class BeaconRetryScheduled:
    """Audit event: the beacon did not serve the round's beacon round (``reason``); a run of
    the flow's deployment (``run``) is scheduled at ``at`` (ISO 8601) to try again."""

    at: str
    run: str
    reason: str


def scheduled_retry(engine: Engine, round_key: str) -> BeaconRetryScheduled | None:
    """The last :class:`BeaconRetryScheduled` of ``round_key``'s audit log, or None."""
    query = (
        select(AuditEvent.payload)
        .where(col(AuditEvent.round_key) == round_key,
               col(AuditEvent.event) == BeaconRetryScheduled.__name__)
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    )  # fmt: skip
    with Session(engine) as session:
        payload = session.exec(query).first()
    return None if payload is None else BeaconRetryScheduled(**json.loads(payload))


def beacon_due(entropy_plan: Mapping[str, Any] | None) -> dt.datetime | None:
    """When the last beacon round a round's ``entropy_plan`` names is due, or None (none)."""
    sources = (entropy_plan or {}).get("sources", [])
    times = [dt.datetime.fromisoformat(s["expected_at"]) for s in sources
             if s.get("source") == "beacon" and s.get("expected_at")]  # fmt: skip
    return max(times, default=None)


@dataclass(frozen=True)
class EntropyInput:
    """Entropy given by people: a ceremony's digits, or a revealed secret."""

    witness_digits: str | None = None
    witnesses: tuple[str, ...] = ()
    reveal: Mapping[str, Any] | None = None


def check_witnesses(names: Sequence[str]) -> None:
    """The witnesses' names, shown on the public round page: nothing in them that changes how
    the text around shows (a right-to-left override showed the ceremony's digits reversed)."""
    for i, name in enumerate(names):
        try:
            no_control(name)
        except ValueError as exc:
            raise UserError(f"witnesses[{i}]: {exc}") from None


def awaits_witnesses(rnd: Round) -> bool:
    """Whether ``rnd`` is committed and waits for a ceremony's witness digits."""
    sources = rnd.entropy_plan.get("sources", []) if rnd.entropy_plan else []
    committed = str(rnd.status) == "committed"
    return committed and any(spec.get("source") == "witness-digits" for spec in sources)


def unnamed_entropy(
    named: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]
) -> str:
    """What of ``records`` (the entropy a draw takes) the commitment did not name in
    ``named`` (its ``entropy_plan.sources``), or "" when each record is of the source named
    in its place, one each, in the order named (a beacon's the round named, witness digits as
    many as named at least, partner checkpoints after the moment named, of the partners named).

    A record nobody named is a choice made after the commitment: a "commit-reveal" secret
    chosen once the ceremony's digits were known can be tried until the firm wanted is drawn,
    and each record's own check still passes. The rule is the bundle's verifier's (§5.1), so
    shuangsui refuses exactly what an outsider's ``verify.py`` refuses."""
    return str(reference.unnamed_entropy(named, records))


def gather_entropy(
    rnd: Round, given: EntropyInput, *, beacon_transport: Any = None
) -> list[dict[str, Any]]:
    """The raw entropy records the round committed to, in the committed order.

    Raises ``EntropyUnavailable`` with the reason when any is not available yet: the round waits.
    Anything more than the commitment named (a reveal, when it named no commit-reveal) is
    refused before any source is asked: it would be entropy chosen after the commitment.
    """
    named = rnd.entropy_plan["sources"]
    if given.reveal and not any(spec["source"] == "commit-reveal" for spec in named):
        raise UserError(
            f"reveal: round {rnd.round_key} committed to its entropy sources "
            f"({', '.join(spec['source'] for spec in named)}) and named no commit-reveal; a "
            "record the commitment did not name is never added at the draw"
        )
    records: list[dict[str, Any]] = []
    for spec in named:
        source = spec["source"]
        if source == "witness-digits":
            if not given.witness_digits:
                raise EntropyUnavailable(
                    f"round {rnd.round_key}: waiting for the draw ceremony's witness digits "
                    f"(at least {spec['min_digits']}), entered after the commitment "
                    f"{rnd.frame_commitment[:16]}… was published"
                )
            check_witnesses(given.witnesses)
            try:
                records.append(WitnessDigits(given.witness_digits, given.witnesses).record())
            except EntropyInvalid as exc:
                raise UserError(f"witness digits: {exc}") from None
        elif source == "beacon":
            beacon = DrandBeacon(spec["url"], spec["chain_hash"], transport=beacon_transport,
                                 now=now)  # fmt: skip
            due = spec.get("expected_at")
            if due and now() < (at := dt.datetime.fromisoformat(due)):  # named a lead ahead
                raise BeaconPending(
                    f"round {rnd.round_key}: waiting for beacon round {spec['round']}, expected "
                    f"at {due}; a run after that time draws the round",
                    at,
                )
            try:  # a value that does not verify (EntropyInvalid) is refused, never retried
                records.append(beacon.fetch(spec["round"]))
            except DrawEntropyUnavailable as exc:
                raise BeaconUnavailable(f"round {rnd.round_key}: {exc}", spec["url"]) from None
        elif source in entropy_sources:
            records.append(entropy_sources[source].gather(rnd, spec))
        else:  # pragma: no cover - commit refuses unknown sources
            raise UserError(f"round {rnd.round_key}: unknown entropy source {source!r}")
    if given.reveal:
        records.append(dict(given.reveal))
    problem = unnamed_entropy(named, records)
    if problem:  # a source that gave more or other than it was named for: never taken
        raise UserError(f"round {rnd.round_key}: {problem}")
    return records
