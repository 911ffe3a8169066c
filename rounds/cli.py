"""``shuangsui round ...``: commit, draw, inspect, bundle and verify rounds."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer
from sqlalchemy import Engine
from sqlmodel import Session, select

from api import ceremonies, runs
from draw.entropy import MIN_DIGITS, digits_wrong
from draw.plan import normalise_rate
from rounds import audit, bundle, service
from rounds.models import Round
from rounds.plans import find_plan, found_plan
from rounds.preflight import describe, preflight, refusals
from shuangsui.clock import local_label
from shuangsui.config import get_settings
from shuangsui.db import get_engine, migrate, one_moment
from shuangsui.errors import CommitHeld, DrawNotRecorded, EntropyUnavailable, UserError
from shuangsui.keys import ROW_ID_MAX, check_round_key
from workspace.events import DrawCommandEntered

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

app = typer.Typer(help="Rounds: commit, draw, bundle and verify.", no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    settings = get_settings()
    migrate(settings.resolved_database_url)
    return get_engine(settings)


def _texts(options: dict[str, str], **values: str) -> None:
    """``values`` as :func:`rounds.service.check_texts` takes them (one rule for every path to
    a commit), refused naming this command's option (``options``: the parameter's) with exit 2,
    before anything is opened."""
    try:
        service.check_texts(**values)
    except UserError as exc:
        field, _, why = str(exc).partition(": ")
        raise typer.BadParameter(why, param_hint=f"'{options[field]}'") from None


def _entropy(digits: str | None, witnesses: list[str]) -> service.EntropyInput:
    return service.EntropyInput(witness_digits=digits, witnesses=tuple(witnesses))


@app.command("check")
def check(
    plan: str = typer.Argument(..., help="plan file under SHUANGSUI_PLANS_DIR, or a plan id"),
) -> None:
    """Preflight: what committing PLAN now would draw, per stratum, and whether it would be held.
    Commits nothing; exits 5 when the commit would be held."""
    settings = get_settings()
    engine = _engine()
    _, text = found_plan(settings.plans_dir, plan)
    base, _ = service.load_plan_text(text, source=plan)
    with one_moment(engine) as conn:  # as the commit reads: the frames and freshness agree
        report = preflight(conn, base, source=plan, bureau_code=settings.bureau_code)
    for line in describe(report):
        typer.echo(line)
    held = refusals(
        report,
        now=dt.datetime.now(dt.UTC),
        max_age_days=settings.registry_max_age_days,
        max_change=settings.frame_change_limit,
    )
    for reason in held:
        typer.echo(f"HOLD: {reason}")
    if held:
        raise typer.Exit(CommitHeld.exit_code)
    typer.echo("ok: round commit would proceed")


@app.command("commit")
def commit(
    plan: str = typer.Argument(..., help="plan file under SHUANGSUI_PLANS_DIR, or a plan id"),
    accept: str = typer.Option(
        "",
        "--accept",
        help="commit despite the preflight's reasons to hold; this reason is audited",
    ),
    by: str = typer.Option(None, "--by", help="who commits (default: this login's user name)"),
) -> None:
    """Commit a scheduled round from a plan file: freeze plan and frames, name the entropy."""
    _texts({"accept": "--accept", "requested_by": "--by"}, accept=accept, requested_by=by or "")
    _, text = found_plan(get_settings().plans_dir, plan)
    rnd = service.commit_round(
        engine=_engine(),
        plan_text=text,
        plan_source=plan,
        accept=accept,
        requested_by=by or getpass.getuser(),
    )
    _print_commitment(rnd)


def _print_commitment(rnd: Round) -> None:
    typer.echo(f"round {rnd.round_key}: {rnd.status.value}")
    typer.echo(f"  plan hash         {rnd.plan_hash}")
    typer.echo(f"  frame commitment  {rnd.frame_commitment} ({rnd.frame_size} enterprises)")
    typer.echo(f"  frame merkle root {rnd.frame_merkle_root}")
    typer.echo(
        f"  inspectors        {rnd.inspector_commitment} ({rnd.inspector_frame_size} inspectors)"
    )
    if rnd.public_inspector_commitment:
        typer.echo(f"  public inspectors {rnd.public_inspector_commitment} (pseudonymous, v2)")
        typer.echo(f"  public recusals   {rnd.public_recused_commitment}")
    typer.echo(f"  entropy named     {json.dumps(rnd.entropy_plan, ensure_ascii=False)}")
    if rnd.seed:
        typer.echo(f"  seed              {rnd.seed}")


def _witness_digits(digits: str | None) -> str | None:
    """``--digits`` as the ceremony's digits are: decimal digits 0-9 (not "²" nor "９"), at
    least ``MIN_DIGITS``; else refused naming the option (exit 2), before anything is opened."""
    if digits is None:
        return None
    wrong = digits_wrong(digits)
    if wrong == "not digits":
        raise typer.BadParameter("the ceremony's witness digits are decimal digits 0-9 only")
    if wrong == "too few":
        raise typer.BadParameter(
            f"{len(digits)} digit(s); the ceremony's witness digits are at least {MIN_DIGITS}"
        )
    return digits


@app.command("draw")
def draw_cmd(
    round_key: str,
    digits: str = typer.Option(
        None, "--digits", help="the ceremony's witness digits (>= 20)", callback=_witness_digits
    ),
    witness: list[str] = typer.Option([], "--witness", help="a witness's name (repeat)"),
    by: str = typer.Option(
        None, "--by", help="who asks for the draw (audited; default: this login's user name)"
    ),
) -> None:
    """Draw a committed round (once: a drawn round is shown, never re-drawn; new digits for a
    drawn round are refused with exit status 4; a draw that other writers kept from being
    recorded leaves the round committed, exit status 6: run it again; other digits while a
    ceremony entered on the round's page or by the API is drawing it are refused with exit
    status 7, and the same digits and witnesses draw it, as that ceremony would; while it
    draws, the round is held for it: a ceremony entered meanwhile is refused, naming ``--by``)."""
    _texts({"requested_by": "--by"}, requested_by=by or "")
    who = by or getpass.getuser()
    engine = _engine()
    offered = _held(engine, round_key, digits, witness, who)
    try:
        rnd = service.draw_round(
            engine=engine, round_key=round_key, entropy=_entropy(digits, witness), requested_by=who
        )
    except BaseException as exc:
        if offered:  # its hold ends with it (a failure the draw recorded ended it already)
            ceremonies.end(engine, round_key, offered, who, runs.said(exc))
        if isinstance(exc, EntropyUnavailable):
            typer.echo(f"waiting: {exc}", err=True)
            raise typer.Exit(3) from None
        if isinstance(exc, DrawNotRecorded):  # not the user's fault, nor a bug: run it again
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        raise
    _print_commitment(rnd)
    for stratum, c in sorted((rnd.counts or {}).items()):
        typer.echo(
            f"  {stratum:<24} eligible {c['eligible']:>7}  drawn {c['drawn']:>5}"
            f"  targeted {c.get('targeted', 0):>4}"
        )


HELD_BY_CEREMONY = 7  # draw's exit status: another ceremony is drawing the round


def _held(
    engine: Engine, round_key: str, digits: str | None, witnesses: list[str], who: str
) -> str:
    """Hold the round for this draw (``DrawCommandEntered``, ``api.ceremonies``), so that a
    ceremony entered on the round's page or by the API while the command draws is refused as
    held by it, naming ``who``; its ``offered_sha256``, or "" when the round was not taken
    here: drawn already (the draw shows it, or refuses other digits), or these digits and
    witnesses are those of the ceremony holding it (drawn here, the draw is the one its run
    makes: a round has one draw). Refused (exit :data:`HELD_BY_CEREMONY`, one line, audited
    ``CeremonyRefused``) while another ceremony holds the round, its deployment run asked of
    Prefect first (one ended with no draw holds nothing). The hold records this process
    (``api.ceremonies.Process``): a command killed mid-draw holds nothing once its process is
    gone, and a later one takes the round, saying so."""
    offered = ceremonies.offered_sha256(digits or "", witnesses)
    ceremonies.settle(engine, round_key, lambda run_id: _asked(round_key, run_id))
    me = ceremonies.this_process()
    entry = DrawCommandEntered(who, offered, me.host, me.pid, me.mark)
    took = ceremonies.take(engine, round_key, entry, offered)
    if (gone := took.taken_over) is not None:
        at = local_label(gone.at, get_settings().timezone) if gone.at else ""
        typer.echo(f"round {round_key}: the `shuangsui round draw` run by {gone.requested_by} at "
                   f"{at} held the round, but its {gone.process} is gone; its hold is ended "
                   "(in the audit log) and this command draws the round", err=True)  # fmt: skip
    first = took.refused_by
    if first is not None and first is not ceremonies.DRAWN and first.at is not None:
        zone = get_settings().timezone
        until = local_label(first.at + ceremonies.HOLD, zone)
        held = f"with the ceremony {first.requested_by} entered at"
        if first.by_command:
            held = f"by `shuangsui round draw`, run by {first.requested_by} at"
        typer.echo(
            f"refused: round {round_key} is being drawn {held} {local_label(first.at, zone)}; "
            f"it holds the round until {until} "
            f"({ceremonies.HOLD.total_seconds() / 60:g} minutes) unless drawn or failed "
            "before; these digits were not used and the attempt is in the audit log",
            err=True,
        )
        raise typer.Exit(HELD_BY_CEREMONY)
    if took.again is not None and not took.again.by_command:
        typer.echo(f"round {round_key}: these are the digits of the ceremony "
                   f"{took.again.requested_by} entered; drawn with them")  # fmt: skip
    return offered if first is None and took.again is None else ""


def _asked(round_key: str, flow_run_id: str) -> str | None:
    """``api.runs.run_state``, said first when a server is asked (a run's id, and a server
    configured): a silent one is waited for."""
    import uuid

    from prefect.settings import PREFECT_API_URL

    try:
        uuid.UUID(flow_run_id)
    except ValueError:  # not a run Prefect could know: not asked
        return runs.run_state(flow_run_id)
    if url := PREFECT_API_URL.value():
        typer.echo(f"round {round_key} is held by a ceremony's flow run {flow_run_id}: asking "
                   f"Prefect at {url} whether it ended (at most {runs.ASK_SECONDS:g} s) …",
                   err=True)  # fmt: skip
    return runs.run_state(flow_run_id)


@app.command("show")
def show(round_key: str) -> None:
    """Show a round's commitments, entropy, seed and counts."""
    rnd = service.get_round(_engine(), round_key)
    _print_commitment(rnd)
    if rnd.entropy:
        typer.echo(f"  entropy recorded  {json.dumps(rnd.entropy, ensure_ascii=False)}")
    if rnd.last_error:
        typer.echo(f"  last error        {rnd.last_error}")


LIST_LIMIT = 30  # rounds `round list` shows without --all: five years hold hundreds


@app.command("list")
def list_rounds(
    # no more rounds than ids; a larger number reached the database, whose refusal was a
    # traceback (an OverflowError on SQLite past eight bytes, a DataError on PostgreSQL)
    limit: int = typer.Option(
        LIST_LIMIT, "--limit", min=1, max=ROW_ID_MAX, help="show the newest N rounds"
    ),
    all_: bool = typer.Option(False, "--all", help="show every round"),
) -> None:
    """The newest rounds first: 30 unless --limit N or --all; a last line says how many older
    ones are not shown."""
    from sqlalchemy import func

    newest = select(Round).order_by(Round.committed_at.desc())  # type: ignore[attr-defined]
    with Session(_engine()) as session:
        rows = session.exec(newest if all_ else newest.limit(limit)).all()
        total = session.exec(select(func.count()).select_from(Round)).one()
    if not rows:
        typer.echo("no rounds yet: `shuangsui round commit PLAN` commits one", err=True)
    for r in rows:
        typer.echo(f"{r.round_key:<32} {r.kind.value:<9} {r.status.value:<9} {r.period}")
    if total > len(rows):
        typer.echo(f"... and {total - len(rows):,} older round(s) not shown (--limit N shows "
                   "the newest N, --all every round)")  # fmt: skip


@app.command("bundle")
def bundle_cmd(
    round_key: str,
    out: Path = typer.Option(..., "--out"),
    audience: str = typer.Option(
        "public",
        "--audience",
        help="public: inspectors under pseudonyms (for the site and partners); auditor: "
        "identities, leave and conflicts (纪检监察 and authorised auditors only)",
    ),
) -> None:
    """Write a self-contained verification bundle (with a stdlib-only verify.py)."""
    path = bundle.bundle_round(_engine(), round_key, out, audience)
    typer.echo(f"bundle written; check it with: python3 -I -S {path / 'verify.py'} {path}")
    typer.echo(str(path))


@app.command("notice")
def notice_cmd(
    round_key: str,
    out: Path = typer.Option(..., "--out", help="folder for the two HTML files"),
    ceremony: str = typer.Option(
        "", "--ceremony", help="ceremony time, e.g. '2026-12-01 10:00 北京时间'"
    ),
    place: str = typer.Option("", "--place", help="ceremony place (left blank to fill by hand)"),
) -> None:
    """Print-ready papers of a round: the commitment notice for the notice board (公告, post it
    BEFORE the ceremony) and the ceremony record for the witnesses to sign (internal)."""
    from rounds.notice import write_notices

    check_round_key(round_key, field="ROUND")
    paths = write_notices(_engine(), round_key, out, get_settings(), ceremony=ceremony, place=place)
    typer.echo(f"notice (公告, public): {paths[0]}")
    typer.echo(f"ceremony record (抽取见证记录, internal, not published): {paths[1]}")


@app.command("verify")
def verify(target: str) -> None:
    """Verify a round from the database (ROUND) or a bundle directory (DIR)."""
    path = Path(target)
    if path.is_dir():
        proc = bundle.run_verify_script(path)
        typer.echo(proc.stdout, nl=False)
        typer.echo(proc.stderr, nl=False, err=True)
        raise typer.Exit(proc.returncode)
    rc = bundle.recompute(_engine(), target)
    typer.echo(f"round {target}: audit log chain ok")
    typer.echo(f"round {target}: seed {rc.result.seed} recomputed from the recorded entropy")
    changed = f", with {len(rc.replacements)} replacement(s) replayed," if rc.replacements else ""
    typer.echo(
        f"round {target}: {len(rc.result.selected)} selected and "
        f"{len(rc.result.teams)} teams{changed} match the database"
    )
    typer.echo(f"round {target}: every check's due date is the one its record gives")


@app.command("replace")
def replace_cmd(
    round_key: str = typer.Argument(..., help="the round"),
    credit_code: str = typer.Argument(..., help="the enterprise whose team changes"),
    inspector: str = typer.Argument(..., help="the member who leaves the team"),
    cause: str = typer.Option(
        ..., "--cause", help="conflict (回避), unavailable (illness, other duty) or left (调离)"
    ),
    note: str = typer.Option(..., "--note", help="why, in a sentence (audited)"),
    by: str = typer.Option(None, "--by", help="who records it (default: this login's user name)"),
    due_on: str = typer.Option(
        None,
        "--due-on",
        help="YYYY-MM-DD: a new due date for the team's check, from today to a year on "
        "(needed when the seat's own date is gone; default: the seats keep theirs)",
    ),
) -> None:
    """Withdraw INSPECTOR from the team of CREDIT_CODE and put the inspector the round's seed
    picks in the seat (docs/draw-algorithm.md §14). Refused, with nothing written, when the
    round is not drawn, the finding is final, no one is left to take the seat, or the seat's
    date is gone and no --due-on is given."""
    from rounds.replacements import CAUTIONS, replace_member

    # who records it: as who asks; why: a change's note (the service strips it)
    _texts({"requested_by": "--by", "note": "--note"}, requested_by=by or "", note=note.strip())
    check_round_key(round_key)
    new_date = None if due_on is None else _date(due_on)
    done = replace_member(
        _engine(), round_key, credit_code, inspector,
        cause=cause, note=note, recorded_by=by or getpass.getuser(), due_on=new_date,
    )  # fmt: skip
    w = done.replacement.withdrawal
    typer.echo(
        f"round {round_key}: replacement {w.n}: {w.withdrawn} leaves position {w.position} of "
        f"{w.credit_code} ({w.cause}); {done.replacement.replacement} takes it"
    )
    typer.echo(f"  the team now: {', '.join(done.team)}")
    moved = " (new: every member's)" if done.due_moved else ""
    typer.echo(f"  the check is due on {done.due_on.isoformat()}{moved}")
    for caution in done.cautions:
        typer.echo(
            f"warning: {done.replacement.replacement} {CAUTIONS[caution]}: withdraw them too "
            "if they cannot check this enterprise (a replacement of its own)",
            err=True,
        )
    if done.due_soon is not None:
        soon = done.due_soon
        typer.echo(
            f"warning: the check is due on {done.due_on.isoformat()}, {soon.working_days} "
            f"working day(s) from today: {done.replacement.replacement} may need more time; to "
            f"give it, e.g.: shuangsui round redate {round_key} {credit_code} --due-on "
            f"{soon.suggested.isoformat()} --reason ...",
            err=True,
        )
    if done.still_on:
        typer.echo(
            f"warning: {w.withdrawn} ({w.cause}) is still on the team of "
            f"{', '.join(done.still_on)} in this round: withdraw them there too where the "
            "check is still open (round replace, once for each)",
            err=True,
        )


@app.command("redate")
def redate_cmd(
    round_key: str = typer.Argument(..., help="the round"),
    credit_code: str = typer.Argument(..., help="the enterprise whose check moves"),
    due_on: str = typer.Option(
        ..., "--due-on", help="YYYY-MM-DD: the check's new date, from today to a year on"
    ),
    reason: str = typer.Option(..., "--reason", help="why, in a sentence (audited)"),
    by: str = typer.Option(None, "--by", help="who records it (default: this login's user name)"),
) -> None:
    """Give the check of CREDIT_CODE's team a new due date, every member's, with no one
    withdrawn (延期: an enterprise closed, a laboratory's result awaited). Refused, with
    nothing written, when the round is not drawn, the finding is final, or the date is gone,
    more than a year on or the one the check has already."""
    from rounds.redates import move_due_date

    # who records it: as who asks; why: a change's note (the service strips it)
    _texts({"requested_by": "--by", "note": "--reason"}, requested_by=by or "",
           note=reason.strip())  # fmt: skip
    check_round_key(round_key)
    done = move_due_date(
        _engine(), round_key, credit_code,
        due_on=_date(due_on), reason=reason, recorded_by=by or getpass.getuser(),
    )  # fmt: skip
    typer.echo(
        f"round {round_key}: new due date {done.n}: the check of {credit_code} is due on "
        f"{done.due_on.isoformat()} (was {done.old_due_on.isoformat()})"
    )
    typer.echo(f"  every member's: {', '.join(done.team)}")


def _date(value: str) -> dt.date:
    """``--due-on``'s date, or the usage error that names the option."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--due-on"
        ) from None


@app.command("audit")
def audit_log(
    round_key: str = typer.Argument(None),
    expect: str = typer.Option(
        None,
        "--expect",
        help="SEQ:HASH of a head printed earlier: fail unless the log still holds that event "
        "with that hash (a log cut short or rewritten fails)",
    ),
) -> None:
    """Verify the whole audit log's hash chain and list a round's events. The head printed
    (its last event's SEQ:HASH) is what to write down, to give --expect later."""
    expected = audit.parse_head(expect) if expect is not None else None
    with Session(_engine()) as session:
        rows = audit.load_chain(session)
        n = audit.verify_chain(rows)
    if expected is not None:
        audit.check_head(rows, *expected)
    head = f"head {rows[-1].seq}:{rows[-1].hash}" if rows else "empty"
    typer.echo(f"audit log: {n} events, chain ok, {head}")
    if expected is not None:
        typer.echo(f"audit log: still holds event {expected[0]} with the hash expected")
    listed = [r for r in rows if round_key is None or r.round_key == round_key]
    for r in listed:
        typer.echo(
            f"{r.seq:>6} {local_label(r.at)} {r.round_key or '-':<24} {r.event} {_shown(r.payload)}"
        )
    if round_key is not None and not listed:  # a typo listed nothing and said nothing of it
        raise UserError(
            f"round {round_key!r}: no event of it in the audit log (every round's commit is one): "
            "check the round key (shuangsui round list)"
        )


# characters of an event's payload the listing shows (a findings import lists each version
# it added: about 1 MB for 5,000 rows); the audit_event row holds it whole
PAYLOAD_SHOWN = 2_000


def _shown(payload: str) -> str:
    if len(payload) <= PAYLOAD_SHOWN:
        return payload
    return f"{payload[:PAYLOAD_SHOWN]}… ({len(payload) - PAYLOAD_SHOWN:,} more characters)"


@contextmanager
def _quiet_prefect() -> Iterator[None]:
    """Prefect's run loggers off while a flow runs in this process: they would print each
    failure three times with its traceback, before the CLI's own one-line error. Prefect's
    own INFO lines (the temporary server stopping at exit) stay quiet afterwards."""
    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    levels = [lg.level for lg in loggers]
    prefect_logger = logging.getLogger("prefect")
    for lg in (*loggers, prefect_logger):
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        prefect_logger.setLevel(logging.WARNING)


# as the API bounds it: a plan's numbers are hashed as exact JSON numbers (draw.canonical)
CAP_MAX = 2**53 - 1


@app.command("adhoc")
def adhoc(
    plan: str = typer.Option(..., help="plan file, or a plan id under SHUANGSUI_PLANS_DIR"),
    reason: str = typer.Option(..., help="why this round (part of the audit record)"),
    requested_by: str = typer.Option(..., "--requested-by", help="who asks (audited)"),
    round_id: str = typer.Option(None, "--round-id", help="continue a committed ad hoc round"),
    rate: list[str] = typer.Option([], help="raise a rate, e.g. --rate D=50% (repeat)"),
    total_cap: int = typer.Option(None, "--total-cap", min=1, max=CAP_MAX),
    division: list[str] = typer.Option([], help="narrow to a division (repeat)"),
    digits: str = typer.Option(
        None, "--digits", help="ceremony digits (committed rounds only)", callback=_witness_digits
    ),
    witness: list[str] = typer.Option([], "--witness"),
) -> None:
    """An ad hoc round: through the `adhoc-round/adhoc` deployment when a Prefect server with
    that deployment is configured (PREFECT_API_URL), in this process otherwise."""
    _texts({"reason": "--reason", "requested_by": "--requested-by"}, reason=reason,
           requested_by=requested_by)  # fmt: skip
    if round_id is not None:
        check_round_key(round_id, field="--round-id")
    find_plan(get_settings().plans_dir, plan)  # a plan outside the plans folder stops here
    rates = {}
    for item in rate:
        cls, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--rate {item}: expected CLASS=RATE, e.g. D=50%")
        try:
            rates[cls.strip()] = normalise_rate(value)
        except ValueError as exc:
            raise UserError(f"--rate {item}: {exc}") from None
    if round_id is None:
        import uuid

        from flows.rounds import adhoc_round_key

        round_id = adhoc_round_key(Path(plan).stem, uuid.uuid4().hex)
    params = {
        "plan": plan,
        "reason": reason,
        "requested_by": requested_by,
        "round_id": round_id,
        "rates": rates or None,
        "total_cap": total_cap,
        "divisions": division or None,
        "witness_digits": digits,
        "witnesses": witness or None,
    }
    from flows.launch import ADHOC_DEPLOYMENT, deployment_available

    if deployment_available():
        from prefect.deployments import run_deployment

        typer.echo("submitting to deployment adhoc-round/adhoc …")
        # called from sync code, so prefect's async_dispatch runs it synchronously
        run = cast(
            "FlowRun",
            run_deployment(
                ADHOC_DEPLOYMENT,
                parameters={k: v for k, v in params.items() if v is not None},
                idempotency_key=f"{round_id}|{digits or ''}",
            ),
        )
        typer.echo(f"flow run {run.name} ({run.id}): {run.state_name}")
        if not run.state or not run.state.is_completed():
            raise typer.Exit(1)
    else:
        from flows.rounds import adhoc_round

        with _quiet_prefect():  # a refusal is one line from main, a bug its own traceback
            adhoc_round(**params)  # type: ignore[arg-type]
    rnd = service.get_round(_engine(), round_id)
    _print_commitment(rnd)
    if rnd.status.value == "committed":
        typer.echo(
            "announce the commitment, hold the ceremony, then run again with "
            f"--round-id {round_id} --digits ... --witness ..."
        )
