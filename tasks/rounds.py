"""Prefect tasks of a round: each a batched unit (a whole plan), over plain functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prefect import task
from prefect.logging import get_run_logger

from notifications.outbox import enqueue_round_held
from rounds import bundle, service
from rounds.entropy import BeaconPending, BeaconUnavailable
from rounds.models import RoundKind
from rounds.plans import read_plan
from shuangsui.config import get_settings
from shuangsui.db import get_engine, session_scope
from shuangsui.errors import CommitHeld, DrawAlreadyMade, DrawNotRecorded, EntropyUnavailable


def _is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry network trouble (a beacon or database hiccup); never a user error."""
    try:
        state.result()
    except (httpx.TransportError, ConnectionError, TimeoutError):
        return True
    except EntropyUnavailable as exc:  # a beacon round due, served within seconds, or down:
        return isinstance(exc, BeaconUnavailable)  # the flow tries later; witnesses are not
    except DrawNotRecorded:  # other writers kept the draw from being recorded: draw it again
        return True
    except Exception:
        return False
    return False


def round_summary(round_key: str) -> dict[str, Any]:
    rnd = service.get_round(get_engine(), round_key)
    return {
        "round_key": rnd.round_key,
        "plan_id": rnd.plan_id,
        "plan_hash": rnd.plan_hash,
        "kind": rnd.kind.value,
        "status": rnd.status.value,
        "requested_by": rnd.requested_by,
        "reason": rnd.reason,
        "frame_commitment": rnd.frame_commitment,
        "frame_merkle_root": rnd.frame_merkle_root,
        "frame_size": rnd.frame_size,
        "inspector_commitment": rnd.inspector_commitment,
        "inspector_frame_size": rnd.inspector_frame_size,
        "draw_version": rnd.draw_version,
        "public_inspector_commitment": rnd.public_inspector_commitment,
        "public_recused_commitment": rnd.public_recused_commitment,
        "entropy_plan": rnd.entropy_plan,
        "entropy": rnd.entropy,
        "seed": rnd.seed,
        "counts": rnd.counts or {},
        "last_error": rnd.last_error,
    }


@task(name="commit-round")
def commit_round_task(
    plan_path: str,
    plan_text: str | None = None,
    kind: str = "scheduled",
    round_key: str | None = None,
    requested_by: str = "",
    reason: str = "",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Commit a plan's round (idempotent: an existing commitment is returned unchanged). A round
    its preflight holds comes back with status "held", its reasons with their kinds
    (``rounds.holds``); the flow tells the coordinator (:func:`tell_held`), once it knows when
    the round is tried again. ``plan_text``: the file's text when the caller read it to find
    the plan (``rounds.plans.found_plan``), committed as read, not read again."""
    path = Path(plan_path)
    try:
        rnd = service.commit_round(
            engine=get_engine(),
            plan_text=read_plan(path) if plan_text is None else plan_text,
            plan_source=str(path),
            kind=RoundKind(kind),
            round_key=round_key,
            requested_by=requested_by,
            reason=reason,
            overrides=overrides,
        )
    except CommitHeld as exc:
        get_run_logger().warning("%s", exc)
        return {"round_key": exc.round_key, "status": "held", "reasons": exc.reasons,
                "kinds": exc.kinds, "preview": exc.preview, "plan_file": path.name}  # fmt: skip
    get_run_logger().info(
        "round %s committed: %d enterprises, frame commitment %s",
        rnd.round_key, rnd.frame_size, rnd.frame_commitment,
    )  # fmt: skip
    return round_summary(rnd.round_key)


def tell_held(held: dict[str, Any], next_try: str, next_at: str = "", period: str = "") -> None:
    """The coordinator told that a round ``commit_round_task`` held was not committed, why,
    and when it is tried again (``next_try``, one of ``notifications.outbox.NEXT_TRY``;
    ``next_at`` the retry's time in the bureau's zone; ``period`` a monthly round's month)."""
    with session_scope() as session:
        enqueue_round_held(
            session=session,
            round_key=held["round_key"],
            plan_id=held["plan_file"],
            reasons=held["reasons"],
            preview=held["preview"],
            next_try=next_try,
            next_at=next_at,
            period=period,
        )


@task(
    name="draw-round", retries=3, retry_delay_seconds=[10, 30, 60], retry_condition_fn=_is_transient
)
def draw_round_task(
    round_key: str,
    witness_digits: str | None = None,
    witnesses: list[str] | None = None,
    requested_by: str = "",
) -> dict[str, Any]:
    """Gather the committed entropy and draw; a round still waiting says why and stays committed.
    New digits for a round drawn already are refused (DrawAlreadyMade), never ignored."""
    logger = get_run_logger()
    try:
        service.draw_round(
            engine=get_engine(),
            round_key=round_key,
            entropy=service.EntropyInput(witness_digits, tuple(witnesses or ())),
            requested_by=requested_by,
        )
    except BeaconPending as exc:  # named a lead ahead: a run after its time draws the round
        logger.info("%s", exc)
        summary = round_summary(round_key)
        summary["waiting"] = str(exc)
        summary["resume_at"] = exc.expected_at.isoformat() if exc.expected_at else None
        return summary
    except EntropyUnavailable as exc:
        if isinstance(exc, BeaconUnavailable):  # due, and not served: retried, then the flow
            raise  # schedules a later try (flows.rounds)
        logger.warning("%s", exc)
        summary = round_summary(round_key)
        summary["waiting"] = str(exc)
        return summary
    except DrawAlreadyMade as exc:  # recorded in the audit log; the other rounds go on
        logger.warning("%s", exc)
        summary = round_summary(round_key)
        summary["refused"] = str(exc)
        return summary
    return round_summary(round_key)


@task(name="write-bundle")
def write_bundle_task(round_key: str) -> str:
    out = bundle.bundle_dir(get_settings().home, round_key)
    path = bundle.bundle_round(get_engine(), round_key, out)
    get_run_logger().info("verification bundle of %s: %s", round_key, path)
    return str(path)
