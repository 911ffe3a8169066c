"""``shuangsui risk ...``: classify, explain, override and approve, complaints, bundles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from shuangsui.clock import typed_day
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from shuangsui.keys import ROW_ID_MAX

app = typer.Typer(help="Risk classes (A 低 … D 高): rules, explanations, overrides.",
                  no_args_is_help=True)  # fmt: skip


def _engine():  # type: ignore[no-untyped-def]
    from shuangsui.db import get_engine, migrate

    settings = get_settings()
    migrate(settings.resolved_database_url)
    return get_engine(settings)


def _credit_code(text: str) -> str:
    """A credit code as typed, read as the registry's import reads it (stripped, upper case);
    one that is no credit code is refused for what is wrong with it, not said to be missing
    from the registry."""
    from registry import uscc

    code = text.strip().upper()
    if problem := uscc.problem(code, uscc.load_whitelist()):
        raise UserError(f"credit_code: {problem}")
    return code


@contextmanager
def _options() -> Iterator[None]:
    """The overrides' refusals, which name the service's fields (``class: …``, ``by: …``),
    said naming this command's options (``--class: …``, ``--by: …``)."""
    try:
        yield
    except UserError as exc:
        field, sep, why = str(exc).partition(": ")
        if sep and field in ("class", "reason", "by"):
            raise UserError(f"--{field}: {why}") from None
        raise


@app.command("classify")
def classify_cmd(
    as_of: str = typer.Option(
        ..., "--as-of", help="classification date, YYYY-MM-DD: 2000-01-01 to today"
    ),
    rules: Path = typer.Option(None, "--rules", help="rules YAML (default: risk/rules/2026-1)"),
    by: str = typer.Option("", "--by", help="who runs it (recorded)"),
) -> None:
    """Classify every active enterprise; the result is in force from now on."""
    from registry.io import regular_file
    from risk import rules as risk_rules
    from risk.classify import as_of_refusal, classify

    day = typed_day("--as-of", as_of)
    if refusal := as_of_refusal(day):  # before the database is opened (or made)
        raise UserError(f"--as-of: {refusal}")
    if rules is not None:  # before it is opened: a FIFO waits for a writer
        regular_file(rules, f"--rules: {rules}")
    try:
        loaded = risk_rules.load(rules)
    except risk_rules.RulesError as exc:
        raise UserError(f"--rules: {exc}" if rules is not None else str(exc)) from None
    done = classify(_engine(), loaded, as_of=day, by=by)
    counts = ", ".join(f"{k} {v}" for k, v in done.counts.items()) or "none"
    typer.echo(
        f"classification {done.run_id} as of {day}: {done.enterprises} enterprises ({counts}); "
        f"rules {done.rules_id} {done.rules_hash[:16]}"
    )


@app.command("explain")
def explain_cmd(
    credit_code: str,
    as_json: bool = typer.Option(False, "--json", help="the explanation as JSON"),
) -> None:
    """The class in force, the inputs and points behind it, and any override."""
    from risk.explain import explain, render

    doc = explain(_engine(), _credit_code(credit_code))
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2) if as_json else render(doc))


@app.command("override")
def override_cmd(
    credit_code: str,
    risk_class: str = typer.Option(..., "--class", help="A, B, C or D"),
    reason: str = typer.Option(..., "--reason", help="why (shown with the class)"),
    by: str = typer.Option(..., "--by", help="the coordinator requesting"),
) -> None:
    """Request an override; a second coordinator must approve it (risk approve ID)."""
    from risk.overrides import request

    code = _credit_code(credit_code)
    with _options():
        row = request(_engine(), credit_code=code, risk_class=risk_class, reason=reason, by=by)
    typer.echo(
        f"override {row.id} pending: {code} -> {row.risk_class} (a second coordinator "
        f"approves it with: shuangsui risk approve {row.id} --by NAME)"
    )


@app.command("approve")
def approve_cmd(
    # as risk override numbers it; a larger number names none, and the database refused it
    # with a traceback (an id past PostgreSQL's INTEGER, or past SQLite's eight bytes)
    override_id: int = typer.Argument(..., min=1, max=ROW_ID_MAX, help="the override's number"),
    by: str = typer.Option(..., "--by", help="the approving coordinator (not the requester)"),
) -> None:
    """Approve a pending override: it is in force from now."""
    from risk.overrides import approve

    with _options():  # the one who asked: `--by: 陈明 requested override 7; …`
        row = approve(_engine(), override_id, by=by)
    typer.echo(f"override {row.id} approved: {row.credit_code} is class {row.risk_class}")


@app.command("complaints")
def complaints_cmd(
    file: Path = typer.Argument(
        ..., help="CSV (UTF-8 or GB18030/GBK): credit_code, ref, upheld_on[, summary]"
    ),
    by: str = typer.Option(..., "--by", help="the coordinator importing"),
) -> None:
    """Import upheld complaints (published only as counts and salted commitments)."""
    from risk.complaints import import_complaints

    done = import_complaints(_engine(), file, by=by)
    held = f"; {done.held} already recorded, left as they were" if done.held else ""
    typer.echo(f"{done.added} upheld complaint(s) imported from {file}{held}")


@app.command("bundle")
def bundle_cmd(
    round_key: str,
    out: Path = typer.Option(None, "--out", help="default: bundles/ROUND/risk in the data dir"),
) -> None:
    """Write a round's classification bundle (with the stdlib-only verify_classes.py)."""
    from risk.bundle import write_bundle
    from rounds.bundle import bundle_dir

    target = out or bundle_dir(get_settings().home, round_key) / "risk"
    path = write_bundle(_engine(), round_key, target)
    typer.echo(f"bundle written; check it with: python3 -I -S {path / 'verify_classes.py'} {path}")
