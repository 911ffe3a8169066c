"""The round flows: ``monthly-round`` (scheduled), ``adhoc-round`` (a coordinator's), and
``draw-round`` (one committed round drawn at its ceremony, either kind).

All take the same path: commit (idempotent), draw once the committed entropy is there,
write the verification bundle, leave a summary artifact. Running either again for the same
round continues where it stopped: the commitment and the draw are never repeated. A round
that names a beacon round (``SHUANGSUI_BEACON_LEAD`` after its commitment) has its commitment
put on the public site at once and waits: run from a deployment, the flow schedules the run
that draws it at the beacon round's time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.events import emit_event
from prefect.logging import get_run_logger
from prefect.runtime import deployment as this_deployment
from prefect.runtime import flow_run

from flows.plans import current_period, period_end, plans_due
from rounds import audit, entropy, holds
from rounds.plans import found_plan
from rounds.service import check_texts
from shuangsui import wiring
from shuangsui.clock import local_label
from shuangsui.config import get_settings
from shuangsui.db import get_engine, migrate
from shuangsui.errors import CommitHeld, DrawAlreadyMade, ShuangsuiError, UserError
from shuangsui.keys import PERIOD, adhoc_round_key, check_round_key
from tasks.artifacts import publish_held_artifact, publish_round_artifact
from tasks.publish import publish_site_task
from tasks.rounds import (
    commit_round_task,
    draw_round_task,
    round_summary,
    tell_held,
    write_bundle_task,
)
from workspace.events import AdhocRefused, record_refusal

wiring.install()

HELD_RETRY = timedelta(hours=1)  # a held round's next try: the next whole hour after this one


def _witnesses_with(witness_digits: str | None, witnesses: list[str] | None) -> None:
    """A ceremony's digits are drawn with its witnesses' names (the draw records both). Given
    alone, from a deployment's run, they failed in the draw task with the entropy's own words,
    which name no parameter the operator can give: refused first, saying how to give it."""
    if witness_digits and not witnesses:
        raise UserError(
            "witnesses: the ceremony's witnesses are needed with witness_digits, their names "
            """as a list: --param 'witnesses=["陈明","林晓"]'"""
        )


def _carry_round(
    summary: dict[str, Any],
    witness_digits: str | None,
    witnesses: list[str],
    requested_by: str,
) -> dict[str, Any]:
    """From a committed round to a drawn one with its bundle, as far as entropy allows. Digits
    offered for a round drawn already go to the draw too, which refuses them out loud."""
    if summary["status"] == "committed" or (witness_digits and summary["status"] == "drawn"):
        try:
            summary = draw_round_task(summary["round_key"], witness_digits, witnesses,
                                      requested_by)  # fmt: skip
        except entropy.BeaconUnavailable as exc:  # the other rounds go on; tried again later
            summary = _beacon_down(summary["round_key"], exc)
    bundle_path = None
    if summary["status"] == "drawn":
        bundle_path = write_bundle_task(summary["round_key"])
        summary["bundle"] = bundle_path
        # the dispatch-notifications deployment is triggered by this event (prefect.yaml)
        emit_event(
            event="shuangsui.round.drawn",
            resource={"prefect.resource.id": f"shuangsui.round.{summary['round_key']}"},
            payload={"round_key": summary["round_key"], "seed": summary["seed"]},
        )
    publish_round_artifact(summary, bundle_path)
    return summary


@flow(name="monthly-round", log_prints=False)
def monthly_round(
    period: str | None = None,
    witness_digits: str | None = None,
    witnesses: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Every plan due in ``period`` (default: this month, Asia/Shanghai): commit, gather the
    public entropy named at commitment, draw, write the bundle.

    Args:
        period: 月份 YYYY-MM，默认本月（北京时间） / the month YYYY-MM; default this month in
            Asia/Shanghai
        witness_digits: 摇号见证数字（承诺公开之后才填） / the ceremony's witness digits, entered
            only after the commitments are published
        witnesses: 见证人姓名 / the witnesses' names
    """
    if period is not None and not PERIOD.fullmatch(period):
        raise UserError(f"period: {period[:40]!r} is not a month written YYYY-MM, e.g. 2026-12")
    _witnesses_with(witness_digits, witnesses)
    settings = get_settings()
    migrate(settings.resolved_database_url)
    period = period or current_period(settings.timezone)
    logger = get_run_logger()
    due = plans_due(settings.plans_dir, period)
    logger.info("%d plan(s) due in %s under %s", len(due), period, settings.plans_dir)
    committed = [commit_round_task(str(path), text) for path, text in due]
    _publish_commitments(committed)
    _retry_held([s for s in committed if s["status"] == "held"], period, settings.timezone)
    results = []
    for summary in committed:
        if summary["status"] == "held":  # the coordinator is told when it is tried again
            tell_held(summary, summary.pop("next_try"), summary.pop("next_at"), period)
            publish_held_artifact(summary)
            results.append(summary)
            continue
        results.append(_carry_round(summary, witness_digits, witnesses or [], "monthly-round"))
    _run_again(results, {"period": period})
    return results


def _retry_held(held: list[dict[str, Any]], period: str, tz: str) -> None:
    """Rounds held by their preflight for the registry (not imported yet, or stale, when the
    month's run came: ``rounds.holds.REGISTRY``) are committed by a later run of the month, once
    the import is done: run from a deployment, one run of it is scheduled for the next whole
    hour of the month, with the same month, however many runs (a retry, a second worker, a
    manual run) held them in that hour. A round held only for its plan (an empty population, a
    frame that moved) is not tried again: an import does not clear that, the coordinator does.
    Each held summary gets ``retry``, what the log and its artifact say (when, or what to do),
    and ``next_try``/``next_at``, what its coordinator's round_held message says."""
    if not held:
        return
    logger = get_run_logger()
    by_hand = (f"commit by hand (shuangsui round commit PLAN) or run monthly-round again "
               f"with period {period}")  # fmt: skip
    awaiting = [s for s in held if holds.REGISTRY in s["kinds"]]
    for s in held:
        if holds.REGISTRY not in s["kinds"]:
            s["retry"] = (f"no run is scheduled: a registry import does not clear this hold, "
                          f"the plan fixed or the hold accepted does; then {by_hand}")  # fmt: skip
            s["next_try"], s["next_at"] = "plan", ""
            logger.warning("held round %s: %s", s["round_key"], s["retry"])
    if not awaiting:
        return
    at = entropy.now().replace(minute=0, second=0, microsecond=0) + HELD_RETRY
    deployment = this_deployment.get_id()
    next_at = ""
    if at >= period_end(period, tz):
        next_try, said = "month_end", f"month {period} ends before another run: {by_hand}"
    elif deployment is None:
        next_try = "by_hand"
        said = f"not run from a deployment, no later run is scheduled: {by_hand}"
    else:
        run = run_deployment(
            UUID(deployment), parameters={"period": period}, scheduled_time=at, timeout=0,
            as_subflow=False, idempotency_key=f"held {deployment} {period} {at.isoformat()}",
        )  # fmt: skip
        assert isinstance(run, FlowRun)  # called from a sync flow: the run, not a coroutine
        said = (f"tried again at {at.isoformat()} by run {run.name} of this deployment, "
                f"once the registry is imported; or {by_hand}")  # fmt: skip
        next_try, next_at = "retry", local_label(at, tz)  # the coordinator's words: local time
    for s in awaiting:
        s["retry"], s["next_try"], s["next_at"] = said, next_try, next_at
    logger.warning("held round(s) %s: %s", ", ".join(s["round_key"] for s in awaiting), said)


def _publish_commitments(summaries: list[dict[str, Any]]) -> None:
    """Rounds whose beacon round, named a lead ahead, is not out yet: their commitments go on
    the public site now, before the value exists (the daily publish may come after it; the
    site says which it was, ``website.site.before_its_entropy``)."""
    named = [entropy.beacon_due(s.get("entropy_plan")) for s in summaries
             if s["status"] == "committed"]  # fmt: skip
    due = [at for at in named if at is not None and entropy.now() < at]
    if not due:
        return
    logger = get_run_logger()
    try:
        publish_site_task(str(get_settings().home.resolve() / "site"))
    except (ShuangsuiError, OSError) as exc:  # the draw still waits for its beacon round
        logger.warning("the commitments were not put on the public site: %s", exc)
        return
    if entropy.now() >= min(due):
        logger.warning("the commitments reached the public site after beacon round time %s: "
                       "the site says so; raise SHUANGSUI_BEACON_LEAD", min(due))  # fmt: skip


def _beacon_down(round_key: str, exc: entropy.BeaconUnavailable) -> dict[str, Any]:
    """A round whose beacon round is due and was not served (past the draw task's retries):
    still committed, to be tried again at ``entropy.retry_at`` (``resume_at``)."""
    get_run_logger().warning("%s", exc)
    summary = round_summary(round_key)
    due = entropy.beacon_due(summary["entropy_plan"]) or entropy.now()
    summary["waiting"] = str(exc)
    summary["beacon_down"] = {"reason": str(exc), "url": exc.url}
    summary["resume_at"] = entropy.retry_at(due, entropy.now()).isoformat()
    return summary


def _run_again(summaries: list[dict[str, Any]], parameters: dict[str, Any]) -> None:
    """Rounds waiting for their beacon round, not due yet or not served: a run of this
    deployment is scheduled for when the last is due (or to be tried again), which draws them
    (nothing is held meanwhile), once however many runs find them waiting; run outside a
    deployment, the log says when to run again. A beacon down is said in the log with what
    to check, and in the round's audit log (``BeaconRetryScheduled``: its coordinator page)."""
    due = [s["resume_at"] for s in summaries if s.get("resume_at")]
    if not due:
        return
    logger = get_run_logger()
    at = max(datetime.fromisoformat(d) for d in due)
    down = [s for s in summaries if s.get("beacon_down")]
    for s in down:
        logger.warning(
            "round %s: the beacon did not serve its round: check SHUANGSUI_BEACON_URL (%s, the "
            "beacon the round named) and the network to it", s["round_key"],
            s["beacon_down"]["url"],
        )  # fmt: skip
    deployment = this_deployment.get_id()
    if deployment is None:
        logger.info("waiting for beacon rounds due by %s: run the flow again after then", at)
        return
    run = run_deployment(
        UUID(deployment), parameters=parameters, scheduled_time=at, timeout=0,
        as_subflow=False, idempotency_key=f"beacon {at.isoformat()} {sorted(parameters.items())}",
    )  # fmt: skip
    assert isinstance(run, FlowRun)  # called from a sync flow: the run, not a coroutine
    logger.info("waiting for beacon rounds due by %s: run %s scheduled then", at, run.name)
    for s in down:  # once a try, however many runs found the beacon down before it
        said = entropy.scheduled_retry(get_engine(), s["round_key"])
        if said is None or said.at != at.isoformat():
            event = entropy.BeaconRetryScheduled(at.isoformat(), run.name,
                                                 s["beacon_down"]["reason"])  # fmt: skip
            audit.append(get_engine(), s["round_key"], event)


def _committed(round_id: str | None) -> bool:
    if round_id is None:
        return False
    from rounds.service import get_round
    from shuangsui.db import get_engine
    from shuangsui.errors import NotFound

    try:
        get_round(get_engine(), round_id)
    except NotFound:
        return False
    return True


@flow(name="adhoc-round", log_prints=False)
def adhoc_round(
    plan: str,
    reason: str,
    requested_by: str,
    round_id: str | None = None,
    rates: dict[str, str] | None = None,
    total_cap: int | None = None,
    divisions: list[str] | None = None,
    witness_digits: str | None = None,
    witnesses: list[str] | None = None,
) -> dict[str, Any]:
    """A coordinator's round: a plan (file or id), the reason and requester (both audited),
    optional overrides within what the plan allows (raise rates, cap the total, narrow the
    divisions). Witness digits are accepted only for a round already committed (pass its
    ``round_id``): entropy must be fixed after the commitment is published.

    Args:
        plan: 抽查计划文件（SHUANGSUI_PLANS_DIR 之下）或计划编号 / plan file under
            SHUANGSUI_PLANS_DIR, or a plan id
        reason: 启动事由，记入审计日志（如 投诉举报） / why this round, recorded in the audit log
        requested_by: 申请人，记入审计日志 / who asks, recorded in the audit log
        round_id: 继续已承诺的轮次时填写其编号 / the key of a committed ad hoc round to continue;
            empty for a new round
        rates: 提高抽查比例，如 {"D": "50%"} / raised rates per risk class, e.g. {"D": "50%"}
        total_cap: 抽取企业总数上限 / the most enterprises drawn in all
        divisions: 缩小到这些行政区划代码 / narrow the round to these division codes
        witness_digits: 摇号见证数字（仅限已承诺的轮次） / the ceremony's witness digits (a
            committed round only)
        witnesses: 见证人姓名 / the witnesses' names
    """
    check_texts(reason=reason, requested_by=requested_by)  # before a refusal audits them
    if round_id is not None:  # digits for a new round are refused for that, below
        check_round_key(round_id, field="round_id")
        _witnesses_with(witness_digits, witnesses)
    settings = get_settings()
    migrate(settings.resolved_database_url)
    try:
        summary = _commit_adhoc(plan, reason, requested_by, round_id, rates, total_cap,
                                divisions, witness_digits)  # fmt: skip
    except UserError as exc:  # the coordinator was answered already: the log says why
        if round_id is not None:
            record_refusal(round_id, AdhocRefused(plan, reason, requested_by, type(exc).__name__,
                                                  str(exc)))  # fmt: skip
        raise
    _publish_commitments([summary])
    summary = _carry_round(summary, witness_digits, witnesses or [], requested_by)
    if "refused" in summary:  # the coordinator asked for this round alone: fail out loud
        raise DrawAlreadyMade(summary["refused"])
    _run_again([summary], {"plan": plan, "reason": reason, "requested_by": requested_by,
                           "round_id": summary["round_key"]})  # fmt: skip
    return summary


def _commit_adhoc(
    plan: str,
    reason: str,
    requested_by: str,
    round_id: str | None,
    rates: dict[str, str] | None,
    total_cap: int | None,
    divisions: list[str] | None,
    witness_digits: str | None,
) -> dict[str, Any]:
    """``adhoc_round``'s commit (or, with ``round_id`` of a committed round, its summary):
    whatever refuses it, before or at the commit, is a :class:`UserError`."""
    settings = get_settings()
    plan_path, plan_text = found_plan(settings.plans_dir, plan)  # read once: the text found
    if witness_digits and not _committed(round_id):
        raise UserError(
            "witness digits must be entered after the round's commitment is published: "
            "run adhoc-round without them, announce the commitment, then run it again with "
            "round_id and the digits"
        )
    overrides: dict[str, Any] = {}
    if rates:
        overrides["rates"] = rates
    if total_cap is not None:
        overrides["total_cap"] = total_cap
    if divisions:
        overrides["divisions"] = divisions
    if round_id is not None and not overrides and (summary := _as_committed(round_id, plan_text)):
        return summary
    if round_id is None:
        run_id = flow_run.get_id() or ""
        round_id = adhoc_round_key(plan_path.stem, f"{run_id}|{plan}|{reason}|{requested_by}")
    summary = commit_round_task(
        str(plan_path),
        plan_text=plan_text,
        kind="adhoc",
        round_key=round_id,
        requested_by=requested_by,
        reason=reason,
        overrides=overrides,
    )
    get_run_logger().info("ad hoc round %s for %s: %s", round_id, requested_by, reason)
    if summary["status"] == "held":
        tell_held(summary, "adhoc")
        publish_held_artifact(summary)
        raise CommitHeld(summary["round_key"], summary["reasons"], summary["preview"],
                         summary["kinds"])  # fmt: skip
    return summary


def _as_committed(round_id: str, plan_text: str) -> dict[str, Any] | None:
    """A committed ad hoc round of this plan asked for again with no cap, raised rates or
    divisions (its ceremony, as ``POST /rounds/adhoc`` documents it: the round's key, its plan
    and reason, the digits): its summary, to be carried on as it was committed, those its
    commitment's. Committed again, it was refused in the background as "committed with other
    arguments" when it had any, after the API had answered 202. None for anything else (no such
    round, a scheduled one, another plan): committed as before, which refuses what differs."""
    from draw.plan import parse_plan, read_plan_yaml
    from tasks.rounds import round_summary

    if not _committed(round_id):
        return None
    summary = round_summary(round_id)
    if summary["kind"] != "adhoc":
        return None
    return summary if summary["plan_id"] == parse_plan(read_plan_yaml(plan_text))["id"] else None


@flow(name="draw-round", log_prints=False)
def draw_round(
    round_key: str,
    requested_by: str,
    witness_digits: str,
    witnesses: list[str],
) -> dict[str, Any]:
    """One committed round, scheduled or ad hoc, drawn with its ceremony's digits, then its
    bundle written: what ``monthly-round`` does for each round of the month, for this one.

    Args:
        round_key: 已承诺（待摇号）的轮次编号 / the key of the committed round
        requested_by: 录入仪式数字的人，记入审计日志 / who enters the digits, recorded in the
            audit log
        witness_digits: 摇号见证数字（承诺公开之后才填） / the ceremony's witness digits, entered
            only after the commitment is published
        witnesses: 见证人姓名 / the witnesses' names
    """
    from rounds.service import get_round
    from shuangsui.db import get_engine

    check_round_key(round_key, field="round_key")
    check_texts(requested_by=requested_by)  # audited with the draw, as an ad hoc round's
    _witnesses_with(witness_digits, witnesses)
    migrate(get_settings().resolved_database_url)
    status = str(get_round(get_engine(), round_key).status)
    summary = _carry_round({"round_key": round_key, "status": status}, witness_digits,
                           witnesses, requested_by)  # fmt: skip
    if "refused" in summary:  # digits for a round drawn already: fail out loud
        raise DrawAlreadyMade(summary["refused"])
    _run_again([summary], {"round_key": round_key, "requested_by": requested_by,
                           "witness_digits": witness_digits, "witnesses": witnesses})  # fmt: skip
    return summary
