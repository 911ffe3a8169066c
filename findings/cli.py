"""``shuangsui findings ...``: import, correct, deadlines."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer
from pydantic import ValidationError

from shuangsui.clock import typed_day
from shuangsui.config import get_settings
from shuangsui.errors import UserError

app = typer.Typer(help="Findings of drawn enterprises.", no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    from shuangsui.db import get_engine, migrate

    settings = get_settings()
    migrate(settings.resolved_database_url)
    return get_engine(settings)


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="CSV (UTF-8 or GB18030) or XLSX"),
    by: str = typer.Option("", "--by", help="the coordinator importing (default: login name)"),
) -> None:
    """Import findings; any bad row rejects the whole file (FILE:ROW: field: reason)."""
    from findings.importer import import_file

    done = import_file(_engine(), file, imported_by=by or getpass.getuser())
    unfilled = f"; {done.unfilled} row(s) not filled in, skipped" if done.unfilled else ""
    typer.echo(
        f"{done.new} new finding version(s) imported from {file}; "
        f"{done.recorded} already recorded as the file has them{unfilled}"
    )


@app.command("correct")
def correct(
    round_key: str,
    credit_code: str,
    reason: str = typer.Option(..., "--reason", help="why (published with the correction)"),
    result: str = typer.Option(None, "--result", help="new result category (value or label)"),
    description: str = typer.Option(None, "--description"),
    check_date: str = typer.Option(None, "--check-date", help="YYYY-MM-DD"),
    signed_by: list[str] = typer.Option([], "--signed-by", help="team member who signed (repeat)"),
    by: str = typer.Option("", "--by", help="the coordinator correcting (default: login name)"),
) -> None:
    """Correct a finding: a new version with a reason, from the latest one with the changes
    given. It is final once every team member has signed it (--signed-by, or the API)."""
    from findings import service
    from findings.categories import RESULT_LABELS, ResultCategory, parse_label
    from findings.schemas import FindingIn, first_error

    engine = _engine()
    hist = service.history(engine, round_key, credit_code)
    if not hist.versions:
        raise UserError(f"{round_key}/{credit_code} has no finding yet: nothing to correct")
    base = hist.versions[-1].model_dump(mode="json", include=set(FindingIn.model_fields))
    if result is not None:
        try:
            base["result"] = parse_label(result, ResultCategory, RESULT_LABELS).value
        except ValueError as exc:
            raise UserError(f"--result: {exc}") from None
    if description is not None:
        base["description"] = description
    if check_date is not None:
        base["check_date"] = check_date
    base["reason"] = reason
    try:
        data = FindingIn.model_validate(base)
    except ValidationError as exc:
        raise UserError("; ".join(f"{f}: {r}" for f, r in first_error(exc))) from None
    who = by or getpass.getuser()
    v = service.submit(
        engine,
        round_key=round_key,
        credit_code=credit_code,
        data=data,
        submitted_by=f"coordinator:{who}",
        signers=signed_by,
        via="correction",
    )
    state = service.history(engine, round_key, credit_code).states[v.version - 1]
    typer.echo(
        f"{round_key}/{credit_code}: version {v.version} recorded"
        + ("" if state.final else f"; awaiting sign-off by {', '.join(state.missing)}")
    )


@app.command("verify")
def verify(
    round_key: str = typer.Argument(None, help="one round (default: every round)"),
) -> None:
    """Check each finding version's stored content against its content hash and the audit
    log's FindingRecorded event (an imported one: its file's FindingsImported), and each
    signature against the log (the log's chain checked first); exit 1 naming the first
    difference (round, credit code, version, what). Versions imported before imports listed
    them are checked against their own hashes only: the output counts them."""
    from findings.integrity import verify_findings

    done = verify_findings(_engine(), round_key)
    typer.echo(f"audit log: {done.events} events, chain ok, head {done.head or '-'}")
    of = "" if round_key is None else " of " + round_key
    versions, signatures = done.versions - done.unlisted, done.signatures - done.unlisted_signatures
    typer.echo(
        f"findings{of}: {versions} version(s) and {signatures} signature(s) match their hashes "
        "and the audit log"
    )
    if done.unlisted:
        typer.echo(
            f"findings{of}: {done.unlisted} version(s) imported before imports listed their "
            "versions in the audit log match their own hashes; their reasons, submitters and "
            f"{done.unlisted_signatures} signature(s) could not be checked against the log"
        )


@app.command("deadlines")
def deadlines(
    all_: bool = typer.Option(False, "--all", help="also list what is not due soon"),
    as_json: bool = typer.Option(False, "--json"),
    today: str = typer.Option(None, "--today", help="YYYY-MM-DD (default: today)"),
) -> None:
    """Results late or due soon for publication, and findings past their due date."""
    from findings import overdue

    items = overdue.report(_engine(), today=typed_day("--today", today) if today else None)
    items = [i for i in items if all_ or i.status != "ok"]
    if as_json:
        typer.echo(
            json.dumps(
                [{**i.__dict__, "due": i.due.isoformat()} for i in items],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not items:
        typer.echo("nothing late or due soon")
    for i in items:
        left = f"{-i.days_left} day(s) late" if i.days_left < 0 else f"{i.days_left} working day(s)"
        ver = f" v{i.version}" if i.version else ""
        typer.echo(
            f"{i.status:8} {i.due}  {left:22} {i.what:10} {i.round_key} {i.credit_code}{ver}"
        )
        for w in i.warnings:
            typer.echo(f"         warning: {w}")
