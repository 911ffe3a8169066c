"""``shuangsui leads ...``: import, list, triage, overdue, public counts."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from shuangsui.config import get_settings
from shuangsui.keys import ROW_ID_MAX

app = typer.Typer(help="Leads (线索) that become targeted checks.", no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    from shuangsui.db import get_engine, migrate

    settings = get_settings()
    migrate(settings.resolved_database_url)
    return get_engine(settings)


def _by(by: str) -> str:
    return by or getpass.getuser()


BY = typer.Option("", "--by", help="the coordinator (default: login name)")
# a lead's number, as the API bounds it: a larger one names no lead, and the database refused it
# with a traceback (an id past PostgreSQL's INTEGER, or past SQLite's eight bytes)
LEAD = typer.Argument(..., min=1, max=ROW_ID_MAX, help="the lead's number")
# the service's field names, as this command's options
OPTIONS = {"check_item": "--check-item", "into": "--into", "reason": "--reason"}


@contextmanager
def _options() -> Iterator[None]:
    """The service's refusals (``check_item: …``, ``into: …``, ``reason: …``) said naming the
    command's own options (``--check-item: …``)."""
    from shuangsui.errors import UserError

    try:
        yield
    except UserError as exc:
        field, sep, why = str(exc).partition(": ")
        if sep and field in OPTIONS:
            raise UserError(f"{OPTIONS[field]}: {why}") from None
        raise


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="CSV (UTF-8 or GB18030) or XLSX"), by: str = BY
) -> None:
    """Import leads; any bad row rejects the whole file (FILE:ROW: field: reason). A lead of an
    enterprise the registry does not hold is imported, and named (FILE:ROW: lead N: ...)."""
    from leads.importer import import_leads

    done = import_leads(_engine(), file, imported_by=_by(by))
    for lead in done.unregistered:
        typer.echo(f"warning: {lead}", err=True)
    ids, n = done.ids, len(done.unregistered)
    typer.echo(
        f"{len(ids)} lead(s) imported from {file}"
        + (f": {ids[0]}..{ids[-1]}" if ids else "")
        + (f"; {n} of them not in the registry of enterprises (named above), so no round can "
           "target them yet" if n else "")
    )  # fmt: skip


NOT_IN_REGISTRY = "(not in the registry)"  # a lead's enterprise the registry does not hold


@app.command("list")
def list_cmd(
    status: str = typer.Option(
        "", "--status", help="received, accepted, targeted, answered, merged or rejected"
    ),  # fmt: skip
    search: str | None = typer.Option(
        None,
        "--search",
        metavar="TEXT",
        help="as the workspace's leads list searches: a lead's number (12, 线索 12, #12), or "
        "part of a credit code, of the enterprise's name or of the category",
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="at most this many leads: the latest received (by number)"
    ),
) -> None:
    """Leads, by number, each with its enterprise's name from the registry (a confidential
    reporter is not shown): every lead, or those of --status and --search, the latest --limit."""
    from leads import search as searching
    from leads import service
    from leads.models import LeadStatus
    from shuangsui.errors import UserError

    try:
        wanted = LeadStatus(status) if status else None
    except ValueError:
        raise UserError(f"--status: {status!r} is not one of "
                        f"{', '.join(s.value for s in LeadStatus)}") from None  # fmt: skip
    sought = None if search is None else search.strip()
    if sought == "":
        raise UserError("--search: empty; give a lead's number or part of a credit code, a "
                        "name or a category")  # fmt: skip
    engine = _engine()
    leads = service.listing(engine, status=wanted)
    names = searching.names(engine, (lead.credit_code for lead in leads))
    if sought is not None:
        leads = [lead for lead in leads if searching.matches(
            sought, lead_id=lead.id or 0, credit_code=lead.credit_code,
            name=names.get(lead.credit_code, ""), category=lead.category)]  # fmt: skip
    if not leads:
        said = [f"no leads {wanted.value}" if wanted else "no leads"]
        said += [f"found by --search {sought!r}"] if sought is not None else []
        typer.echo(" ".join(said), err=True)
    shown = leads[-limit:] if limit else leads
    for lead in shown:
        where = f" round {lead.round_key}" if lead.round_key else ""
        typer.echo(
            f"{lead.id:>6} {lead.status.value:<9} {lead.source.value:<18} {lead.credit_code} "
            f"{names.get(lead.credit_code, NOT_IN_REGISTRY)} {lead.category} "
            f"(deadline {lead.deadline}){where}"
        )
    if len(shown) < len(leads):
        typer.echo(f"the latest {len(shown)} of {len(leads)} lead(s) shown (--limit)", err=True)


@app.command("accept")
def accept_cmd(
    lead_id: int = LEAD,
    check_item: str = typer.Option(..., "--check-item", help="the check item that answers it"),
    reason: str = typer.Option("", "--reason"),
    urgent: bool = typer.Option(False, "--urgent", help="an ad hoc round will take it"),
    by: str = BY,
) -> None:
    """Accept a lead: the next committed round of the check item targets its enterprise."""
    from leads import service

    with _options():
        lead = service.accept(_engine(), lead_id, check_item=check_item, reason=reason,
                              urgent=urgent, by=_by(by))  # fmt: skip
    typer.echo(f"lead {lead.id} accepted for {check_item}")
    if urgent:
        typer.echo(f"start an ad hoc round of a {check_item} plan now (round adhoc ...) to take it")


@app.command("merge")
def merge_cmd(
    lead_id: int = LEAD,
    into: int = typer.Option(..., "--into", min=1, max=ROW_ID_MAX, help="the lead that carries on"),
    reason: str = typer.Option("", "--reason"),
    by: str = BY,
) -> None:
    """Merge a lead into another lead of the same enterprise."""
    from leads import service

    with _options():
        service.merge(_engine(), lead_id, into=into, reason=reason, by=_by(by))
    typer.echo(f"lead {lead_id} merged into {into}")


@app.command("reject")
def reject_cmd(
    lead_id: int = LEAD,
    reason: str = typer.Option(..., "--reason", help="why (audited)"),
    by: str = BY,
) -> None:
    """Reject a lead with a reason."""
    from leads import service

    with _options():
        service.reject(_engine(), lead_id, reason=reason, by=_by(by))
    typer.echo(f"lead {lead_id} rejected")


@app.command("overdue")
def overdue_cmd() -> None:
    """Open leads past their deadline."""
    from leads.targeting import overdue

    items = overdue(_engine())
    for i in items:
        typer.echo(
            f"{i.id:>6} {i.status:<9} {i.credit_code} {i.category}: deadline {i.deadline}, "
            f"{i.days_late} day(s) late" + (f", round {i.round_key}" if i.round_key else "")
        )
    typer.echo(f"{len(items)} overdue lead(s)")


@app.command("counts")
def counts_cmd() -> None:
    """The public counts by source and outcome (what data/leads.json publishes)."""
    from leads.public import counts

    typer.echo(json.dumps(counts(_engine()), ensure_ascii=False, indent=1))
