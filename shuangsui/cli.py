"""The ``shuangsui`` command. Each area adds its own sub-command group."""

from __future__ import annotations

import logging
import os
import sys

import typer

from shuangsui import files
from shuangsui.config import get_settings
from shuangsui.errors import UserError

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
def db_migrate(revision: str = typer.Argument("head")) -> None:
    """Create or upgrade the schema of the configured database."""
    from shuangsui.db import migrate

    settings = get_settings()
    migrate(settings.resolved_database_url, revision)
    typer.echo(f"database {settings.database_url_for_logs} at {revision}")


def _register_groups() -> None:
    from registry.cli import app as registry_app

    app.add_typer(registry_app, name="registry")
    from rounds.cli import app as round_app

    app.add_typer(round_app, name="round")
    from notifications.cli import app as notifications_app

    app.add_typer(notifications_app, name="notifications")
    from exchange.cli import app as partners_app

    app.add_typer(partners_app, name="partners")
    from api.cli import serve, tokens_app
    from findings.cli import app as findings_app
    from website.cli import publish_cmd

    app.add_typer(findings_app, name="findings")
    app.add_typer(tokens_app, name="tokens")
    app.command("publish")(publish_cmd)
    app.command("serve")(serve)


def main() -> None:
    # the data directory and everything written in it (database, outbox, keys, evidence) are
    # the bureau's alone: 0700 / 0600. Only the public site is written world-readable.
    os.umask(files.PRIVATE_UMASK)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from shuangsui import wiring

    wiring.install()
    _register_groups()
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
