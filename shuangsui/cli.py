"""The ``shuangsui`` command. Each area adds its own sub-command group."""

from __future__ import annotations

import inspect
import logging
import os
import sqlite3
import sys
from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from shuangsui import files, wiring
from shuangsui.config import Settings, get_settings
from shuangsui.errors import IntegrityError, UserError

# Set before Prefect is imported, unless the user chose otherwise: a temporary Prefect server
# would otherwise try to send telemetry and log ERROR lines where the network is closed, and
# give up after 20 s when a busy machine takes longer to start it (and migrate its database).
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}

app = typer.Typer(
    name="shuangsui",
    help="双随机、一公开: auditable random spot checks of certified enterprises.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The application database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("migrate")
def db_migrate(
    revision: str = typer.Argument(
        "head", help="head, or a revision of the schema to upgrade to (0001, 0002, …): never down"
    ),
) -> None:
    """Create or upgrade the schema of the configured database; say the revision it is at."""
    from shuangsui.db import check_upgrade, migrate, schema_revision

    settings = get_settings()
    url = settings.resolved_database_url
    check_upgrade(url, revision)
    migrate(url, revision)
    at = schema_revision(url)
    typer.echo(f"database {settings.database_url_for_logs} at {at}"
               + (" (head)" if revision == "head" else ""))  # fmt: skip


@db_app.command("backup")
def db_backup(
    dest: Path = typer.Argument(..., help="a new folder, outside the data directory"),
) -> None:
    """Copy the data directory, its SQLite database by SQLite's online backup (a plain file
    copy of a database being written is not one); on PostgreSQL, dump the database too."""
    from shuangsui.backup import backup

    report = backup(get_settings(), dest)
    typer.echo(f"{report.files} file(s) of the data directory copied into {report.folder}")
    if report.database is not None:
        typer.echo(f"database copied and checked: {report.database}")
    else:
        typer.echo(
            "the database is on PostgreSQL: dump it now as well, "
            "pg_dump --format=custom --file=shuangsui.dump DATABASE (docs/operations.md)"
        )


def _register_groups() -> None:
    from registry.cli import app as registry_app

    app.add_typer(registry_app, name="registry")
    from rounds.cli import app as round_app

    app.add_typer(round_app, name="round")
    from notifications.cli import app as notifications_app

    app.add_typer(notifications_app, name="notifications")
    from exchange.cli import app as partners_app

    app.add_typer(partners_app, name="partners")
    from leads.cli import app as leads_app

    app.add_typer(leads_app, name="leads")

    from joint.cli import app as joint_app

    app.add_typer(joint_app, name="joint")
    from api.cli import serve, tokens_app
    from findings.cli import app as findings_app
    from website.cli import publish_cmd

    app.add_typer(findings_app, name="findings")
    from risk.cli import app as risk_app

    app.add_typer(risk_app, name="risk")
    app.add_typer(tokens_app, name="tokens")
    app.command("publish")(publish_cmd)
    app.command("serve")(serve)
    _one_line_summaries(app)


def _one_line_summaries(group: typer.Typer) -> None:
    """Each command's line in its group's ``--help``: its help's first paragraph as one line
    (the docstrings are wrapped at 100 columns, and Typer's list of commands keeps their line
    breaks, breaking sentences mid-way whatever the terminal's width)."""
    for command in group.registered_commands:
        text = command.help or inspect.getdoc(command.callback) or ""
        command.short_help = command.short_help or " ".join(text.split("\n\n")[0].split())
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _one_line_summaries(sub.typer_instance)


def prefect_defaults() -> None:
    """Shuangsui's defaults for Prefect settings the user has not set."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _new_database(settings: Settings) -> Path | None:
    """The SQLite file this command would create, if it does not exist yet: the data
    directory's, or the one ``SHUANGSUI_DATABASE_URL`` names."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    path = Path(url.database).resolve()
    return None if path.exists() else path


def _empty(path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return True
    try:
        return conn.execute("SELECT count(*) FROM enterprise").fetchone()[0] == 0
    except sqlite3.Error:
        return True
    finally:
        conn.close()


def _warn_if_fresh(path: Path | None, settings: Settings) -> None:
    """One line on stderr when this command made a new database and left it empty: usually a
    command run from another folder than the data directory's."""
    if path is None or not path.exists() or not _empty(path):
        return
    if settings.database_url:  # named by the URL: a typing slip makes a database elsewhere
        named = make_url(settings.database_url).database or ""
        relative = "" if Path(named).is_absolute() else (
            f"; its path {named} is read from the working directory (sqlite:////… with four "
            "slashes names an absolute path)"
        )  # fmt: skip
        typer.echo(f"warning: new empty database {path}, named by SHUANGSUI_DATABASE_URL"
                   f"{relative}; import the registry, or correct the URL", err=True)  # fmt: skip
        return
    home = os.environ.get("SHUANGSUI_HOME", "unset, so ./.shuangsui of the working directory")
    typer.echo(
        f"warning: new empty database {path} (data directory {settings.home.resolve()}; "
        f"SHUANGSUI_HOME is {home}); import the registry, or run from the folder that holds "
        "your data or set SHUANGSUI_HOME",
        err=True,
    )


def user_message(exc: BaseException) -> str | None:
    """The one-line message for an error caused by the user's input or environment, or for
    recorded data that does not verify (what ``round audit`` and ``round verify`` exist to
    say, naming where); None for anything else, which is a bug and keeps its traceback."""
    import httpx
    import pydantic
    import sqlalchemy.exc
    import yaml

    if isinstance(exc, UserError | IntegrityError):
        return str(exc)
    if isinstance(exc, sqlalchemy.exc.OperationalError):
        return _database_refused(exc)
    if isinstance(exc, sqlalchemy.exc.DatabaseError) and damaged(getattr(exc, "orig", None)):
        return f"{_database_refused(exc)}: {DAMAGED}"
    if isinstance(exc, pydantic.ValidationError) and (said := wiring.settings_said(exc)):
        return said
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, yaml.YAMLError):
        return f"YAML: {' '.join(str(exc).split())}"
    if isinstance(exc, httpx.TransportError):
        try:
            return f"cannot reach {exc.request.url}: {exc}"
        except RuntimeError:  # no request attached
            return f"network: {exc}"
    return None


DAMAGED = (
    "the file is damaged (cut short or overwritten); restore the data directory from a backup "
    '(shuangsui db backup; docs/operations.md, "Databases and upgrades")'
)


def damaged(exc: BaseException | None) -> bool:
    """SQLite's own word that a database file is not whole: a page that does not read
    (``database disk image is malformed``) or no database at all (``file is not a
    database``), as a backup's copy cut short or a file overwritten gives."""
    name = getattr(exc, "sqlite_errorname", "")
    return isinstance(exc, sqlite3.DatabaseError) and name in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def _database_refused(exc: BaseException) -> str:
    """A database that cannot be reached, opened or written (a server down, a wrong password,
    a read-only data directory): which one (its password hidden) and the driver's own words,
    not a traceback of SQLAlchemy's internals."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:2]
    said = " ".join(line.strip() for line in lines) or "refused"
    return f"database {get_settings().database_url_for_logs}: {said}"


def main() -> None:
    prefect_defaults()
    # the data directory and everything written in it (database, outbox, keys, evidence) are
    # the bureau's alone: 0700 / 0600. Only the public site is written world-readable.
    os.umask(files.PRIVATE_UMASK)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    wiring.install()
    _register_groups()
    settings: Settings | None = None
    fresh = None
    try:
        wiring.check_environment()
        wiring.read_settings()  # every one, before any command opens the database
        settings = get_settings()
        fresh = _new_database(settings)
        app()
    except BaseException as exc:
        if settings is not None:
            _warn_if_fresh(fresh, settings)
        message = user_message(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        sys.exit(exc.exit_code if isinstance(exc, UserError | IntegrityError) else 2)


if __name__ == "__main__":
    main()
