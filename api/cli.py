"""``shuangsui serve`` and ``shuangsui tokens ...``."""

from __future__ import annotations

import signal

import typer

from shuangsui.config import get_settings

tokens_app = typer.Typer(
    help="API tokens: coordinators' tokens, and revoking inspectors' links.", no_args_is_help=True
)


def _engine():  # type: ignore[no-untyped-def]
    from shuangsui.db import get_engine, migrate

    settings = get_settings()
    migrate(settings.resolved_database_url)
    return get_engine(settings)


@tokens_app.command("create-coordinator")
def create_coordinator(name: str = typer.Argument(..., help="who will hold the token")) -> None:
    """Issue a coordinator token. It is shown once; only its SHA-256 is stored."""
    from api import tokens

    token = tokens.create_coordinator(_engine(), name, get_settings().bureau_code)
    typer.echo(token)


@tokens_app.command("revoke-coordinator")
def revoke_coordinator(name: str) -> None:
    """Revoke a coordinator's token."""
    from api import tokens

    tokens.revoke(_engine(), name)
    typer.echo(f"token of {name} revoked")


@tokens_app.command("revoke")
def revoke_inspector(
    inspector_id: str = typer.Argument(..., help="the inspector's id in the registry"),
    round_key: str = typer.Option(
        "", "--round", help="only this round (default: every round drawn until now)"
    ),
    by: str = typer.Option(..., "--by", help="who revokes (recorded in the audit log)"),
    reason: str = typer.Option("", "--reason", help="why (recorded in the audit log)"),
) -> None:
    """Refuse an inspector's links, in one round or in every round drawn until now, from the
    next request on. Rounds drawn later send new links, which open: a lost phone holds none."""
    from api import inspector_tokens

    row = inspector_tokens.revoke(
        _engine(), inspector_id, round_key=round_key, by=by, reason=reason
    )
    where = f"round {row.round_key}" if row.round_key else "every round drawn until now"
    typer.echo(f"links of inspector {row.inspector_id} revoked in {where}")
    if not row.round_key:
        typer.echo(
            "rounds drawn from now on send new links, which open (an inspector who left: mark "
            "them inactive in the registry)"
        )


@tokens_app.command("list-revoked")
def list_revoked() -> None:
    """The revoked inspectors' links and coordinators' tokens. An inspector's revocation of
    every round covers the rounds drawn until its time ("drawn by then"), not later ones."""
    from api import inspector_tokens, tokens
    from shuangsui.clock import local_label

    engine = _engine()
    inspectors, coordinators = inspector_tokens.revoked(engine), tokens.revoked_coordinators(engine)
    if not inspectors and not coordinators:
        typer.echo("no inspector's links and no coordinator's token revoked", err=True)
    for row in inspectors:
        where = row.round_key or "every round drawn by then"
        typer.echo(
            f"inspector\t{row.inspector_id}\t{where}\t{local_label(row.revoked_at)}\t"
            f"{row.revoked_by}\t{row.reason}"
        )
    for c in coordinators:
        when = local_label(c.revoked_at) if c.revoked_at else "-"
        typer.echo(f"coordinator\t{c.name}\t{c.bureau_code}\t{when}")


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8350, min=1, max=65535, help="port (1-65535)"),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1",
        help="comma-separated addresses of the TLS proxy whose X-Forwarded-For/-Proto are "
        "trusted (client address and scheme in logs); partner signatures are checked against "
        "SHUANGSUI_EXCHANGE_PUBLIC_URL whatever the proxy forwards",
    ),
) -> None:
    """Serve the bureau's server: the API (findings, leads, rounds; OpenAPI at /openapi.json,
    docs at /docs), the partner exchange (/exchange/v1) and the workspace pages (/w: the
    inspectors' links, the coordinators' desk). Refused at once if HOST:PORT cannot be bound."""
    from api.listen import check_address

    check_address(host, port)  # before anything is imported, migrated or started
    import uvicorn

    from api import connections
    from api.adhoc import stop_temporary_server
    from api.app import create_app
    from notifications import link_key
    from shuangsui import logsafe

    engine = _engine()
    settings = get_settings()
    _read_every_setting()
    # the access log writes each request line, links' ?token= included: redact it
    logsafe.install()
    connections.warn_if_few_files(settings.serve_max_connections)
    # uvicorn stops cleanly on SIGTERM, then raises it again: exit normally instead, so the
    # temporary Prefect server of an in-process ad hoc round is stopped below
    signal.signal(signal.SIGTERM, _exit_quietly)
    app = create_app()
    # not a stale key: said in one line, before it listens; the app's start checks it no more
    link_key.check_serve(engine, settings.secret_key.get_secret_value())
    app.state.key_checked = True
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="info",
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            # what one connection may hold (api/connections.py; docs/operations.md)
            http=connections.BoundedH11.with_timeouts(
                settings.serve_header_timeout_seconds, settings.serve_body_timeout_seconds
            ),
            loop="api.connections:event_loop",  # one accept-error report a minute, not thousands
            limit_concurrency=settings.serve_max_connections,
            backlog=connections.ACCEPT_BATCH,
            timeout_keep_alive=settings.serve_keep_alive_seconds,
        )
    finally:
        stop_temporary_server()


def _read_every_setting() -> None:
    """Each settings class the server's routes read, read once before it listens: a mistyped
    holiday, size or address stops it at start, naming its variable (``error: settings: …``),
    where it would have been found by a request (a 500) or a flow days later."""
    from exchange.settings import ExchangeSettings
    from findings.settings import FindingsSettings
    from leads.schemas import LeadsSettings
    from notifications.settings import NotifySettings

    for settings in (FindingsSettings, NotifySettings, ExchangeSettings, LeadsSettings):
        settings()


def _exit_quietly(signum: int, _frame: object) -> None:
    raise SystemExit(0)
