"""Starting a coordinator's round flows from the API (``adhoc-round``, and ``draw-round`` for a
committed round's ceremony): through the deployment when a Prefect API is configured,
otherwise in a background thread of this process."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine
from sqlmodel import Session

from api import ceremonies
from api.ceremonies import Ceremony as Ceremony  # the pages' and the routes'
from api.runs import import_prefect, said
from draw.entropy import digits_wrong
from flows.launch import ADHOC_DEPLOYMENT, DRAW_DEPLOYMENT
from rounds import audit
from rounds.models import Round, RoundStatus
from rounds.service import REASON_MAX as REASON_MAX  # the page's and the request model's
from shuangsui.errors import DrawAlreadyMade, NotFound, UserError
from workspace.events import AdhocRequested, CeremonyEntered, CeremonyRefused

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

logger = logging.getLogger(__name__)

# Rounds started in this process and still running: ``serve`` waits for them at shutdown, so a
# round is never cut off between its commit and its draw by a clean stop.
_running: set[threading.Thread] = set()
_running_lock = threading.Lock()


@dataclass(frozen=True)
class Refused:
    """A ceremony of the round whose digits were not used: who entered them and when (UTC),
    and why: ``drawn`` (the round was drawn by another ceremony: its ``DrawRefused``) or
    ``held`` (another ceremony held the round, ``entered_by`` at ``entered_at``: its
    ``CeremonyRefused``; ``by_command``: ``shuangsui round draw`` held it)."""

    by: str
    at: dt.datetime
    reason: str  # "drawn" | "held"
    entered_by: str = ""
    entered_at: dt.datetime | None = None
    by_command: bool = False


def refused_ceremonies(session: Session, round_key: str) -> list[Refused]:
    """The round's ceremonies whose digits were not used, in the order they were refused: a
    draw was made already (``DrawRefused``: both were answered that the draw was under way),
    or another ceremony held the round (``CeremonyRefused``: answered 409 at once). The
    round's page and ``GET /rounds/{key}`` list them, so that a coordinator sees whose digits
    were turned away as well as their own."""
    refused = []
    for e in audit.round_events(session, round_key):
        if e.event == "DrawRefused":
            refused.append(Refused(json.loads(e.payload)["requested_by"], _utc(e.at), "drawn"))
        elif e.event == CeremonyRefused.__name__:
            said = json.loads(e.payload)
            at = said["entered_at"]
            first = _utc(dt.datetime.fromisoformat(at)) if at else None
            refused.append(Refused(said["by"], _utc(e.at), "held", said["entered_by"], first,
                                   said.get("by_command", False)))  # fmt: skip
    return refused


# a ceremony's bounds, the API's request model's and the round's page's: the witnesses' names are
# published with the round, and the digits with its entropy
DIGITS_MAX = 200  # digits at most
WITNESSES_MAX = 50  # witnesses at most
WITNESS_MAX = 64  # characters of a witness's name at most


def ceremony_digits(rnd: Round) -> int:
    """How many digits the round's commitment asks of its ceremony (at least)."""
    named = (rnd.entropy_plan or {}).get("sources", [])
    return max((int(s.get("min_digits", 0)) for s in named if s.get("source") ==
                "witness-digits"), default=0)  # fmt: skip


def check_ceremony(engine: Engine, round_key: str, digits: str, witnesses: Sequence[str]) -> None:
    """What a ceremony's request says, checked before it takes the round: the round exists
    (:class:`NotFound`), and, while it is committed, the digits are decimal digits 0-9, as
    many as its commitment asks at least and at most :data:`DIGITS_MAX` (a :class:`UserError`
    naming ``witness_digits``). A ceremony of a round that did not exist was answered 202 and
    refused in the background; one of digits its draw would refuse ("１２３", too few) took the
    round first, and held it for nothing until its run failed. The names' own check
    (``rounds.entropy.check_witnesses``) first, as the runner makes it."""
    from rounds.entropy import check_witnesses

    check_witnesses(witnesses)
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
    if rnd is None:
        raise NotFound(f"round_id: round {round_key} does not exist")
    if rnd.status is not RoundStatus.committed:
        return  # a drawn round: refused or shown as its draw (run_ceremony)
    least = ceremony_digits(rnd)
    wrong = digits_wrong(digits, least, DIGITS_MAX)
    if wrong == "not digits":
        raise UserError("witness_digits: the ceremony's digits are decimal digits 0-9 only")
    if wrong:
        raise UserError(f"witness_digits: {len(digits)} digit(s); round {round_key}'s "
                        f"commitment asks for {least} to {DIGITS_MAX}")  # fmt: skip
    if len(witnesses) > WITNESSES_MAX or any(len(w) > WITNESS_MAX for w in witnesses):
        raise UserError(f"witnesses: at most {WITNESSES_MAX} names of at most {WITNESS_MAX} "
                        "characters")  # fmt: skip


def run_ceremony(
    engine: Engine,
    runner: Callable[[dict[str, Any]], dict[str, Any]],
    params: dict[str, Any],
    round_key: str,
    entry: AdhocRequested | CeremonyEntered,
    run_state: ceremonies.RunState | None = None,
) -> tuple[Ceremony | None, dict[str, Any]]:
    """Start the draw of ``round_key`` with a ceremony's ``params`` (``requested_by``,
    ``witness_digits``, ``witnesses``) by ``runner``, unless another ceremony holds the round
    (``api.ceremonies``: in the database, whichever process it came to) or drew it: (that
    ceremony, {}) then, else (None, the runner's answer). ``entry`` is the ceremony's audit
    entry, recorded as it takes the round. A runner that refuses to start ends the hold; the
    deployment's flow run it started is recorded with the hold. ``run_state``: how Prefect
    says a held round's run is (``api.runs.run_state``), asked first (``ceremonies.settle``)."""
    digits, witnesses = params["witness_digits"], params.get("witnesses") or []
    check_ceremony(engine, round_key, digits, witnesses)
    offered = ceremonies.offered_sha256(digits, witnesses)
    if run_state is not None:
        ceremonies.settle(engine, round_key, run_state)
    took = ceremonies.take(engine, round_key, replace(entry, offered_sha256=offered), offered)
    first = took.refused_by
    if first is ceremonies.DRAWN:
        first = _drawn_by(engine, round_key, params["requested_by"], digits, witnesses)
    if first is not None:
        return first, {}
    try:
        answer = dict(runner(params))
    except BaseException as exc:
        ceremonies.end(engine, round_key, offered, params["requested_by"], said(exc))
        raise
    if answer.get("mode") == "deployment" and answer.get("flow_run_id"):
        run_id = str(answer["flow_run_id"])
        ceremonies.record_run(engine, round_key, offered, params["requested_by"], run_id)
    return None, answer


def _run_ended(key: str, params: dict[str, Any], error: str) -> None:
    """An in-process run of a ceremony ended: its hold ends with ``error`` unless it drew."""
    from shuangsui.db import get_engine

    digits, witnesses = params["witness_digits"], params.get("witnesses") or []
    offered = ceremonies.offered_sha256(digits, witnesses)
    try:
        ceremonies.end(get_engine(), key, offered, params["requested_by"], error)
    except Exception:  # the age ends the hold then (api.ceremonies.HOLD)
        logger.exception("round %s: the end of its ceremony's run not recorded", key)


def _drawn_by(
    engine: Engine, round_key: str, requested_by: str, digits: str, witnesses: Sequence[str]
) -> Ceremony | None:
    """The ceremony a drawn round was drawn with (its ``DrawMade``), when these digits are not
    that ceremony's: the service refuses them and audits it, as the background run would."""
    from rounds import service

    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        if rnd is None or rnd.status is not RoundStatus.drawn:
            return None
        entries = [e for e in audit.round_events(session, round_key) if ceremonies.is_entry(e)]
    try:
        service.draw_round(engine=engine, round_key=round_key, requested_by=requested_by,
                           entropy=service.EntropyInput(digits, tuple(witnesses)))  # fmt: skip
    except DrawAlreadyMade:
        drawn_at = _utc(rnd.drawn_at) if rnd.drawn_at else None
        used = _offered_drawn(rnd)
        entry = next((e for e in entries if used and used in e.payload), None)
        entry = entry or (entries[0] if entries else None)
        if entry is None:
            return Ceremony("", None, drawn_at)
        return Ceremony(json.loads(entry.payload)["by"], _utc(entry.at), drawn_at)
    return None  # the ceremony it was drawn with, again


def _offered_drawn(rnd: Round) -> str:
    """``offered_sha256`` of the witness digits the round was drawn with ("" if none)."""
    for record in rnd.entropy or []:
        if record.get("source") == "witness-digits":
            witnesses = record.get("witnesses") or []
            return ceremonies.offered_sha256(str(record.get("digits", "")), witnesses)
    return ""


_utc = ceremonies.utc


def wait_for_running(timeout: float | None = None) -> list[str]:
    """Wait for this process's in-process rounds to end; the names of those still running."""
    with _running_lock:
        threads = list(_running)
    for thread in threads:
        thread.join(timeout)
    return [t.name for t in threads if t.is_alive()]


# The temporary Prefect server of this process's in-process rounds (Prefect starts one in a
# subprocess when no PREFECT_API_URL is set). Prefect's start is check-then-start with no lock:
# two rounds starting at once each launched a server, and only the last one's process was kept
# to be stopped, so the other outlived ``serve``. One lock: started once, stopped once.
_server_lock = threading.Lock()


def _start_temporary_server() -> None:
    """Start the temporary Prefect server this process's rounds share, unless it runs already
    or a Prefect API is configured (then every round talks to that one)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    from prefect.server.api.server import SubprocessASGIServer

    with _server_lock:
        server = SubprocessASGIServer()  # the one Prefect's clients ask for when no URL is set
        try:
            server.start()
        except Exception:
            server.stop()  # a server that did not answer in time is not left running
            raise


def stop_temporary_server() -> None:
    """Stop the temporary Prefect server the in-process rounds started, so it does not outlive
    ``serve``. Prefect stops it at interpreter exit too, but a process killed by a signal
    never gets there."""
    if "prefect.server.api.server" not in sys.modules:
        return  # no round ran in this process: nothing was started
    from prefect.server.api.server import SubprocessASGIServer

    with _server_lock:  # not while a round is starting it
        for server in list(SubprocessASGIServer._instances.values()):
            server.stop()


def run_adhoc(params: dict[str, Any]) -> dict[str, Any]:
    """Start the round and answer at once with its key, which the caller can then follow
    (``GET /rounds``); the key is fixed here so a retried request names the same round."""
    import_prefect()  # before the flows' modules import it
    import uuid
    from pathlib import PurePath

    from rounds.entropy import check_witnesses
    from rounds.plans import find_plan
    from shuangsui.config import get_settings
    from shuangsui.errors import UserError
    from shuangsui.keys import adhoc_round_key, check_plan_ref, check_round_key

    params = dict(params)
    check_plan_ref(params["plan"], field="plan")
    check_witnesses(params.get("witnesses") or [])
    # refused now (422), not in the background after a 202 naming a round that never comes
    find_plan(get_settings().plans_dir, params["plan"])
    if params.get("witness_digits") and not params.get("round_id"):
        raise UserError(
            "witness_digits: the ceremony's digits go with round_id, the committed round they "
            "draw; start the round without them first"
        )
    params.setdefault("round_id", adhoc_round_key(PurePath(params["plan"]).stem, uuid.uuid4().hex))
    key = check_round_key(params["round_id"], field="round_id")
    return _launch("adhoc_round", ADHOC_DEPLOYMENT, params, key, params.get("witness_digits"))


def run_draw(params: dict[str, Any]) -> dict[str, Any]:
    """Draw a committed round (scheduled or ad hoc) with its ceremony's digits (``round_key``,
    ``requested_by``, ``witness_digits``, ``witnesses``: the ``draw-round`` flow's parameters)
    and answer at once."""
    import_prefect()
    from rounds.entropy import check_witnesses
    from shuangsui.errors import UserError
    from shuangsui.keys import check_round_key

    key = check_round_key(params["round_key"], field="round_key")
    check_witnesses(params.get("witnesses") or [])
    if not params.get("witness_digits"):
        raise UserError("witness_digits: the ceremony's digits are what this draw takes")
    return _launch("draw_round", DRAW_DEPLOYMENT, dict(params), key, params["witness_digits"])


def check_overrides(engine: Engine, params: dict[str, Any]) -> None:
    """A round's request as its plan and the round it names take it, for the API before it
    answers (``rounds.plans.apply_overrides``, ``rounds.plans.check_divisions``, the commit's
    check of a round asked for again): a rate or a division code no plan takes ("1e9%", "abc"),
    a division code the shipped GB/T 2260 table does not know or that lies outside the bureau's
    jurisdiction ("999999"), or a round named by ``round_id`` asked for with another plan or
    overrides than it was committed with (drawn or not: frozen), was answered 202 with a round
    key, and the round refused in the background. A committed ad hoc round asked for with its
    own plan and no overrides is its ceremony's (``flows.rounds._as_committed``): carried as
    committed, not checked. (The page previews the plan with them before it starts a round.)"""
    from rounds.models import RoundKind
    from rounds.plans import apply_overrides, check_divisions, locate_plan, read_plan
    from rounds.service import load_plan_text, refuse_changed_arguments
    from shuangsui.config import get_settings

    overrides = {k: params[k] for k in ("rates", "total_cap", "divisions") if params.get(k)}
    round_id = params.get("round_id")
    if not (overrides or round_id) or params.get("witness_digits"):  # a ceremony: as committed
        return
    settings = get_settings()
    try:
        path, text = locate_plan(settings.plans_dir, params["plan"])
    except UserError:  # the runner refuses it, naming the plan
        return
    text = read_plan(path) if text is None else text  # found by its id: read to be found
    plan, _ = load_plan_text(text, source=params["plan"])
    plan = apply_overrides(plan, overrides)  # well formed, then known: 999999 was after a 202
    check_divisions(overrides.get("divisions", []), bureau_code=settings.bureau_code,
                    within="overrides.")  # fmt: skip
    if round_id is None:
        return
    with Session(engine) as session:  # the flow commits it again, which refuses what differs
        if (existing := session.get(Round, round_id)) is None:
            return
        committed = existing.status is RoundStatus.committed and existing.kind is RoundKind.adhoc
        if overrides or not committed or existing.plan_id != plan["id"]:  # not carried
            refuse_changed_arguments(session, existing, plan)


RUNS_MAX = 100  # runs of one round's digits ended with no draw, one after another, at most


def _launch(
    flow: str, deployment: str, params: dict[str, Any], key: str, digits: str | None
) -> dict[str, Any]:
    """Run ``flows.rounds.<flow>`` with ``params`` for round ``key``: through ``deployment``
    when the configured Prefect server has it (the same request and digits twice is one run),
    else in a thread of this process (``serve`` waits for it at shutdown)."""
    from flows.launch import deployment_available

    who = params["requested_by"]
    if deployment_available(deployment):
        from prefect.deployments import run_deployment

        # The same request and digits twice is one run (a retry): the idempotency key. A
        # ceremony's run that ended with no draw (cancelled before a worker took it, crashed)
        # ended its hold (api.ceremonies.settle); the same digits entered again are a new
        # ceremony, and the key's run, final, would never draw them: the next key names it,
        # so two retries of that ceremony still make one run.
        idempotency_key = f"{key}|{digits or ''}"
        for _ in range(RUNS_MAX):
            # called from sync code, so prefect's async_dispatch runs it synchronously
            run = cast("FlowRun", run_deployment(deployment, parameters=params, timeout=0,
                                                 idempotency_key=idempotency_key))  # fmt: skip
            if not digits or run.state is None or not run.state.is_final():
                break
            idempotency_key = f"{key}|{digits}|{run.id}"
        logger.info("round %s requested by %s: flow run %s", key, who, run.id)
        return {"mode": "deployment", "round_key": key, "flow_run_id": str(run.id),
                "state": "scheduled"}  # fmt: skip

    def _run() -> None:
        from flows import rounds

        error = "the run ended without a draw"
        try:
            _start_temporary_server()
            getattr(rounds, flow)(**params)
        except Exception as exc:
            logger.exception("round %s for %s failed", key, who)
            error = said(exc)
        finally:
            if digits:  # before serve's shutdown may go on (it waits for _running)
                _run_ended(key, params, error)
            with _running_lock:
                _running.discard(threading.current_thread())

    thread = threading.Thread(target=_run, name=f"{flow.replace('_', '-')}-{key}", daemon=True)
    with _running_lock:
        _running.add(thread)
    thread.start()
    return {"mode": "in-process", "round_key": key, "flow_run_id": None, "state": "running"}
