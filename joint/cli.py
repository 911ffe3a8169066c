"""``shuangsui joint ...``: commit, reveal, draw, withdraw, bundle, findings and status of joint
rounds."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from sqlmodel import Session, select

from exchange.directory import load_directory
from exchange.keys import load_or_create
from joint import service
from joint.evidence import evidence
from joint.models import JointRound
from joint.protocol import JointError
from rounds.plans import read_plan
from shuangsui.config import get_settings
from shuangsui.db import get_engine, migrate
from shuangsui.errors import EntropyUnavailable, UserError

app = typer.Typer(help="Joint rounds between bureaus (联合抽查).", no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    settings = get_settings()
    migrate(settings.resolved_database_url)
    return get_engine(settings)


def _me() -> service.Bureau:
    return service.Bureau(get_settings().bureau_code, load_or_create(), load_directory())


def _sent(me: service.Bureau) -> None:
    for line in me.sent:
        typer.echo(f"  {line}")


def _pulled(me: service.Bureau) -> None:
    """What the pull of a reveal or a draw refused, said as ``joint pull`` says it."""
    for line in me.pulled:
        typer.echo(f"  {line}")


class Waiting(UserError):
    exit_code = 3


@app.command("commit")
def commit(plan: Path) -> None:
    """Commit our frames and H(nonce) to a joint round (signed) and send them to the others."""
    me = _me()
    row = service.commit(_engine(), me, read_plan(plan))
    typer.echo(f"{row.joint_key}: committed (joint plan {row.plan_hash})")
    _sent(me)
    _pulled(me)


@app.command("reveal")
def reveal(joint: str) -> None:
    """Reveal our nonce, once every participant's commitment is held."""
    me = _me()
    try:
        said = service.reveal(_engine(), me, joint)
    except EntropyUnavailable as exc:
        _pulled(me)
        raise Waiting(str(exc)) from None
    except UserError:
        _pulled(me)
        raise
    typer.echo(f"{joint}: {said}")
    _pulled(me)
    _sent(me)


@app.command("push")
def push(joint: str) -> None:
    """Send our statements again (to a participant that was down)."""
    me = _me()
    service.push(_engine(), me, joint)
    _sent(me)


@app.command("draw")
def draw(joint: str) -> None:
    """Decide the joint round: drawn, or failed by the fixed rule; exit 3 while waiting. What
    its pull refused is said after, as ``joint pull`` says it."""
    me = _me()
    try:
        row = service.draw(_engine(), me, joint)
    except EntropyUnavailable as exc:
        _pulled(me)
        raise Waiting(str(exc)) from None
    typer.echo(_summary(row))
    _pulled(me)


def _summary(row: JointRound) -> str:
    out = row.outcome or {}
    if row.status == "drawn":
        return f"{row.joint_key}: drawn, seed {out['seed']}, {len(out['selected'])} selected"
    if row.status == "failed":
        f = out["failure"]
        return f"{row.joint_key}: FAILED: {f['reason']} by {', '.join(f['bureaus'])}"
    if row.status == "withdrawn":
        w = out["withdrawn"]
        return f"{row.joint_key}: withdrawn here at {w['at']} (nothing drawn; see joint status)"
    return f"{row.joint_key}: {row.status}"


@app.command("withdraw")
def withdraw(
    joint: str = typer.Argument(..., help="the joint round"),
    note: str = typer.Option(..., "--note", help="why, in a sentence (our audit log only)"),
    by: str = typer.Option(None, "--by", help="who records it (default: this login's user name)"),
) -> None:
    """Withdraw a joint round we have committed to and not revealed (a plan made by mistake,
    partners gone silent): our nonce is erased, never to be revealed. Local: the partners are
    not told (protocol version 1 has no statement for it), each sees our reveal missing and
    fails the round at its deadline. Refused once our nonce is revealed, once the round is
    decided here, or once a deadline has failed it by the rule (joint draw records that)."""
    import getpass

    from joint.abandon import withdraw_round

    me = _me()
    row = withdraw_round(_engine(), me.code, joint, note=note, recorded_by=by or getpass.getuser())
    plan = service.plan_of(row)
    typer.echo(f"{joint}: withdrawn here; our nonce is erased and will never be revealed")
    typer.echo(
        f"  the partners are not told (joint protocol version 1 has no statement for it): "
        f"each sees our reveal missing and fails the round at its deadline (commit "
        f"{plan['commit_deadline']}, reveal {plan['reveal_deadline']}), as withheld by "
        f"{me.code} once it holds every commitment; tell them yourselves"
    )


@app.command("bundle")
def bundle(joint: str, out: Path = typer.Option(..., help="the bundle directory")) -> None:
    """Write the joint round's bundle (check it with python3 -I -S verify_joint.py DIR)."""
    from joint.bundle import write_bundle

    names = write_bundle(_engine(), joint, out)
    typer.echo(f"{out}: {len(names)} files and MANIFEST.sha256")


@app.command("replace")
def replace(
    joint: str = typer.Argument(..., help="the joint round"),
    credit_code: str = typer.Argument(..., help="the enterprise whose team changes"),
    inspector: str = typer.Argument(..., help="our member who leaves the team"),
    cause: str = typer.Option(
        ..., "--cause", help="conflict (回避), unavailable (illness, other duty) or left (调离)"
    ),
    note: str = typer.Option(..., "--note", help="why, in a sentence (our audit log only)"),
    by: str = typer.Option(None, "--by", help="who records it (default: this login's user name)"),
) -> None:
    """Withdraw our INSPECTOR from the team of CREDIT_CODE and seat the inspector the round's
    seed picks among ours (docs/draw-algorithm.md §13.7); signed, sent to every participant.
    Refused, with nothing recorded, before the draw, after our finding for the enterprise, or
    when no inspector of ours is left to take the seat."""
    import getpass

    from joint.withdraw import replace_member

    done = replace_member(
        _engine(), _me(), joint, credit_code, inspector,
        cause=cause, note=note, recorded_by=by or getpass.getuser(),
    )  # fmt: skip
    st = done.statement
    typer.echo(
        f"{joint}: replacement {st['n']} of {st['bureau']}: {st['withdrawn']} leaves position "
        f"{st['position']} of {credit_code} ({st['cause']}); {st['replacement']} takes it"
    )
    typer.echo(f"  the team now: {', '.join(f'{b} {i}' for b, i in done.team)}")
    typer.echo(f"  {done.queued} notice(s) queued for our inspectors")
    for line in done.sent:
        typer.echo(f"  {line}")
    if done.still_on:
        typer.echo(
            f"warning: {st['withdrawn']} ({st['cause']}) is still on the team of "
            f"{', '.join(done.still_on)} in this joint round: withdraw them there too where the "
            "check is still open (joint replace, once for each)",
            err=True,
        )


@app.command("pull")
def pull(joint: str) -> None:
    """Take what every other participant holds of the joint round (commitments, reveals and,
    once drawn here, replacements), each checked as if it had been sent to us."""
    me = _me()
    notes = service.pull(_engine(), me, joint)
    typer.echo(f"{joint}: pulled from every other participant")
    for line in notes:
        typer.echo(f"  {line}")


@app.command("finding")
def finding(joint: str, credit_code: str, outcome: str, inspected_on: str) -> None:
    """Our finding for an enterprise of the joint round, signed, to the lead."""
    try:
        said = service.send_finding(
            _engine(),
            _me(),
            joint,
            credit_code=credit_code,
            outcome=outcome,
            inspected_on=inspected_on,
        )
    except JointError as exc:
        raise UserError(str(exc)) from None
    typer.echo(f"{joint}: {said}")


@app.command("publish")
def publish(joint: str) -> None:
    """(Lead) share each enterprise's result in our log, naming every participant."""
    from joint.publish import publish_results

    for line in publish_results(_engine(), joint):
        typer.echo(line)


@app.command("status")
def status(joint: str = typer.Argument(None)) -> None:
    """Joint rounds, and who has not committed or revealed, with the evidence."""
    engine = _engine()
    with Session(engine) as s:
        rows = s.exec(select(JointRound)).all()
    for row in rows:
        if joint and row.joint_key != joint:
            continue
        typer.echo(_summary(row))
        for line in evidence(engine, row):
            typer.echo(f"    {line}")
    if joint and not any(r.joint_key == joint for r in rows):
        typer.echo(json.dumps({"joint": joint, "status": "unknown here"}))
