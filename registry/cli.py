"""``shuangsui registry``: import, export, generate and count the two lists (名录库)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session, col

from registry.schema import IMPORT_ORDER, KINDS
from shuangsui.clock import local_time
from shuangsui.config import get_settings
from shuangsui.errors import ImportRejected, UserError

app = typer.Typer(
    help="The registries (名录库): enterprises, certificates, inspectors, ...", no_args_is_help=True
)

KIND_HELP = f"one of: {', '.join(KINDS)}"


@contextmanager
def _session() -> Iterator[Session]:
    """A session on the configured database, migrated to head first (cheap when current)."""
    from shuangsui.db import get_engine, migrate, session_scope

    settings = get_settings()
    migrate(settings.resolved_database_url)
    with session_scope(get_engine(settings)) as session:
        yield session


def _user_errors(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ImportRejected as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        if exc.total > len(exc.problems):
            typer.echo(f"... and {exc.total - len(exc.problems):,} more", err=True)
        typer.echo(f"{exc.total:,} problem(s); nothing was imported", err=True)
        raise typer.Exit(2) from exc
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


SET_SUFFIXES = (".csv", ".xlsx")  # the files ``import all`` reads: <kind>.csv or <kind>.xlsx
LOOKS_LIKE = (".csv", ".txt", ".xlsx", ".xlsm", ".xls")  # a registry file of another name?


def _set_files(directory: Path) -> list[tuple[str, Path]]:
    """The registry files of ``directory``, in import order: one of each kind at most, each a
    regular file. Two of one kind (``enterprises.csv`` and ``.xlsx``), or an entry of a
    kind's name that is a folder, a FIFO or a device, is refused before anything is read:
    both were imported in turn, and the others passed over in silence."""
    if not directory.is_dir():
        raise UserError(f"{directory}: not a directory (import all reads <kind>.csv/.xlsx files)")
    files: list[tuple[str, Path]] = []
    for kind in IMPORT_ORDER:
        found = [directory / f"{kind}{ext}" for ext in SET_SUFFIXES]
        found = [p for p in found if os.path.lexists(p)]
        if len(found) > 1:
            raise UserError(f"{directory}: both {found[0].name} and {found[1].name}; import all "
                            "reads one file of each kind: keep one")  # fmt: skip
        for path in found:
            if path.is_dir():
                raise UserError(f"{path}: a folder, not a file")
            if not path.is_file():
                raise UserError(f"{path}: not a regular file (a FIFO, a device, a socket or "
                                "a link to nothing)")  # fmt: skip
        files.extend((kind, p) for p in found)
    if not files:
        raise UserError(f"{directory}: no registry files ({', '.join(KINDS)}).csv/.xlsx")
    return files


def _passed_over(directory: Path, files: list[tuple[str, Path]]) -> list[Path]:
    """Files of ``directory`` that look like registry files but are not named as one (a typo,
    ``inspector.csv``; ``CHECK-ITEMS.CSV``): ``import all`` does not read them."""
    taken = {p.name for _, p in files}
    return sorted(p for p in directory.iterdir()
                  if p.suffix.lower() in LOOKS_LIKE and p.name not in taken)  # fmt: skip


@app.command("import")
def import_command(
    kind: Annotated[str, typer.Argument(help=f"{KIND_HELP}, or 'all' to import a directory")],
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file (a directory for 'all')")],
    uscc_whitelist: Annotated[
        Path | None,
        typer.Option(help="audited whitelist of credit codes that fail the check"),
    ] = None,
) -> None:
    """Validate and import a file; any bad row rejects the whole file (exit 2)."""
    from registry.importer import import_files

    def run() -> None:
        if kind != "all" and kind not in KINDS:
            raise UserError(f"unknown kind {kind!r}: {KIND_HELP} or all")
        files = _set_files(file) if kind == "all" else [(kind, file)]
        for path in _passed_over(file, files) if kind == "all" else []:
            typer.echo(f"warning: {path}: not a registry file's name ({', '.join(KINDS)}, "
                       ".csv or .xlsx), so not imported", err=True)  # fmt: skip
        if uscc_whitelist is not None:
            _check_whitelist(uscc_whitelist)
        with _session() as session:
            results = import_files(session=session, files=files, whitelist_path=uscc_whitelist)
        for r in results:
            typer.echo(
                f"{r.file}: {r.kind}: {r.rows} rows, {r.inserted} inserted, "
                f"{r.updated} updated, {r.unchanged} unchanged"
            )
        if any(r.rows for r in results):
            for line in _month_notes():
                typer.echo(f"note: {line}")

    _user_errors(run)


def _month_notes() -> list[str]:
    """What an import just committed means for this month's rounds (Asia/Shanghai, or the
    bureau's zone), which the operator importing late cannot see from the counts: a round
    committed already froze the registry as it stood before this import, and a round held by
    its preflight (a registry stale or not imported) is committed only by a later run."""
    import sqlalchemy as sa

    from flows.plans import current_period
    from notifications.models import Notification, NotificationKind
    from rounds.models import Round, RoundStatus
    from shuangsui.db import get_engine

    settings = get_settings()
    period = current_period(settings.timezone)
    notes = []
    with Session(get_engine(settings)) as session:
        rounds = session.execute(
            sa.select(col(Round.round_key), col(Round.committed_at))
            .where(col(Round.period) == period, col(Round.status) != RoundStatus.failed)
            .order_by(col(Round.committed_at))
        ).all()
        for key, at in rounds:
            notes.append(
                f"round {key} of {period} was committed at {_local(at, settings.timezone)}, "
                "before this import: it draws from the registry as it stood then; this import "
                "counts from the next round committed"
            )
        committed = sa.select(col(Round.round_key)).where(
            col(Round.round_key) == col(Notification.round_key)
        )
        held = session.execute(  # each round's messages, its latest last
            sa.select(col(Notification.round_key), col(Notification.created_at),
                      col(Notification.payload))
            .where(col(Notification.kind) == NotificationKind.round_held, ~sa.exists(committed))
            .order_by(col(Notification.round_key), col(Notification.created_at))
        ).all()  # fmt: skip
    latest = {key: (at, payload) for key, at, payload in held}
    for key, (at, payload) in latest.items():
        if current_period(settings.timezone, local_time(at, settings.timezone).date()) != period:
            continue  # another month's round: its run, or the coordinator, has seen to it
        notes.append(
            f"round {key} was held by its preflight at {_local(at, settings.timezone)}, "
            f"the coordinator told why, and is not committed yet: {_what_follows(payload)}"
        )
    return notes


def _what_follows(payload: dict[str, Any]) -> str:
    """What a held round's operator can do now, by what its latest round_held message said
    follows (``notifications.outbox.NEXT_TRY``): only a round held for its registry is tried
    again by a run scheduled when it was held."""
    by_hand = "commit it now (shuangsui round commit PLAN)"
    follows = payload.get("next_try")
    if follows == "retry":
        return (f"{by_hand}, or let the monthly-round deployment's runs commit it: one was "
                f"scheduled for {payload.get('next_at')}, then one each whole hour it is held, "
                "till the month ends")  # fmt: skip
    if follows == "plan":
        return ("it was held for its plan, which this import does not clear: fix the plan, "
                "then commit it (shuangsui round commit PLAN)")  # fmt: skip
    if follows in ("month_end", "by_hand", "adhoc"):
        return f"no run is scheduled to commit it: {by_hand}"
    # a message sent before it said what follows
    return (f"{by_hand}, or let the run of the monthly-round deployment scheduled when it was "
            "held commit it within the hour (its log and held artifact say whether one "
            "was)")  # fmt: skip


def _local(at: Any, tz: str) -> str:
    """``at`` (stored as UTC) as the notes write it: '2026-12-01 02:00 (Asia/Shanghai)'."""
    return f"{local_time(at, tz):%Y-%m-%d %H:%M} ({tz})"


def _check_whitelist(path: Path) -> None:
    """Refuse, naming ``--uscc-whitelist``, a whitelist that cannot be read as one (before
    anything is imported): not there, a folder, a FIFO or a device (opening a FIFO waits for
    a writer), not UTF-8, or an entry without its 18-character code and reason."""
    from registry import uscc
    from registry.io import regular_file

    option = f"--uscc-whitelist: {path}"
    regular_file(path, option)
    data = path.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{option}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start})") from None  # fmt: skip
    try:
        uscc.load_whitelist(path)
    except ValueError as exc:  # FILE:ROW: what the entry lacks
        raise UserError(f"--uscc-whitelist: {exc}") from None


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="file (.csv/.xlsx), or DIR with --all")],
    kind: Annotated[str | None, typer.Argument(help=KIND_HELP)] = None,
    all_kinds: Annotated[bool, typer.Option("--all", help="every kind into --out DIR")] = False,
    xlsx: Annotated[bool, typer.Option("--xlsx", help="with --all: write .xlsx files")] = False,
) -> None:
    """Export in the format import reads (CSV UTF-8 with BOM, or XLSX by extension)."""
    from registry.export import export_all, export_kind

    def run() -> None:
        if all_kinds == (kind is not None):
            raise UserError("give either a kind or --all")
        if kind is not None and kind not in KINDS:  # before the database is opened (or made)
            raise UserError(f"unknown kind {kind!r}: {KIND_HELP}")
        with _session() as session:
            if kind is None:
                counts = export_all(
                    session=session, out_dir=out, suffix=".xlsx" if xlsx else ".csv"
                )
            else:
                counts = {kind: export_kind(session=session, kind=kind, out=out)}
        for name, n in counts.items():
            typer.echo(f"{name}: {n} rows")

    _user_errors(run)


# The most rows of a list `generate` writes: its organisation codes are distinct only below
# 10**8 (index * 7,919,003 + offset, mod 10**8); a larger count was an OverflowError traceback
# (random.sample past ssize_t) or a file written without end. Inspectors are held to it too.
GENERATED_MAX = 10**8


@app.command("generate")
def generate_command(
    seed: Annotated[int, typer.Option(help="same seed, byte-identical files")],
    out: Annotated[Path, typer.Option("--out", help="directory for the five CSV files")],
    enterprises: Annotated[int, typer.Option(min=0, max=GENERATED_MAX)] = 1000,
    inspectors: Annotated[int, typer.Option(min=0, max=GENERATED_MAX)] = 50,
) -> None:
    """Write synthetic registry files that import cleanly (same seed, same bytes)."""
    from registry.generate import generate

    counts = generate(enterprises=enterprises, inspectors=inspectors, seed=seed, out=out)
    for name, n in counts.items():
        typer.echo(f"{out / (name + '.csv')}: {n} rows")


@app.command("stats")
def stats_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts by prefecture, risk class, certificate kind and status."""
    from rich.console import Console
    from rich.table import Table

    from registry.stats import registry_stats

    with _session() as session:
        stats = registry_stats(session=session)
    if as_json:
        typer.echo(json.dumps(stats, ensure_ascii=False, indent=2))
        return
    console = Console()
    totals = Table("list", "rows", title="Registry")
    for name, n in stats["totals"].items():
        totals.add_row(name, str(n))
    prefectures = Table("code", "prefecture", "enterprises", title="Enterprises by prefecture")
    for p in stats["enterprises_by_prefecture"]:
        prefectures.add_row(p["code"], p["name"], str(p["count"]))
    risk = Table("risk class", "enterprises", title="Enterprises by risk class")
    for r, n in stats["enterprises_by_risk_class"].items():
        risk.add_row(r, str(n))
    certs = Table("kind", "status", "certificates", title="Certificates by kind and status")
    for c in stats["certificates_by_kind_status"]:
        certs.add_row(c["kind"], c["status"], str(c["count"]))
    for table in (totals, prefectures, risk, certs):
        console.print(table)
