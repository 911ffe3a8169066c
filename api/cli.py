"""``shuangsui serve`` and ``shuangsui tokens ...``."""

from __future__ import annotations

import typer

from shuangsui.config import get_settings

tokens_app = typer.Typer(help="API tokens of coordinators.", no_args_is_help=True)


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


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8350, help="port"),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1",
        help="comma-separated addresses of the TLS proxy whose X-Forwarded-For/-Proto are "
        "trusted (client address and scheme in logs); partner signatures are checked against "
        "SHUANGSUI_EXCHANGE_PUBLIC_URL whatever the proxy forwards",
    ),
) -> None:
    """Serve the findings API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from api.app import create_app

    _engine()
    uvicorn.run(create_app(), host=host, port=port, log_level="info",
                proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips)  # fmt: skip
