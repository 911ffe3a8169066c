"""``shuangsui publish --out DIR``."""

from __future__ import annotations

from pathlib import Path

import typer

from shuangsui.config import get_settings
from shuangsui.errors import UserError


def publish_cmd(
    out: Path = typer.Option(..., "--out", help="directory of the static site"),
    bundles: bool = typer.Option(True, help="write each round's verification bundle"),
    check_files: bool = typer.Option(
        False,
        "--check-files",
        help="first read and hash every file the last publish wrote; write again each one "
        "missing or changed on disk since (the daily scheduled publish does)",
    ),
) -> None:
    """Render the public site (pages, open data, DCAT catalogue, verification bundles) into
    DIR; only files whose content changed are rewritten."""
    from shuangsui.db import get_engine, migrate
    from shuangsui.files import public_umask
    from website.site import publish

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder")
    settings = get_settings()
    migrate(settings.resolved_database_url)
    with public_umask():  # the site is for everyone, unlike the data directory
        report = publish(
            get_engine(settings), out, settings=settings, bundles=bundles, check_files=check_files
        )
    for rel in report.restored:
        typer.echo(f"{out / rel}: changed on disk since it was published; written again", err=True)
    for rel in report.unlisted:
        typer.echo(f"{out / rel}: no publish wrote this file; left as found", err=True)
    typer.echo(
        f"{report.rounds} round(s), {report.results} result(s): {len(report.written)} file(s) "
        f"written, {report.unchanged} unchanged, {len(report.removed)} removed; "
        f"{report.newly_published} result(s) newly published -> {out}"
    )
