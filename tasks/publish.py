"""The Prefect task that publishes the static site (one batched unit over plain functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from shuangsui.config import get_settings
from shuangsui.db import get_engine
from website.site import publish


@task(name="publish-site")
def publish_site_task(out: str, bundles: bool = True, check_files: bool = False) -> dict[str, Any]:
    """Render the site into ``out``; only changed files are written (``check_files``: and
    every file changed on disk since the last publish)."""
    settings = get_settings()
    report = publish(
        get_engine(settings), Path(out), settings=settings, bundles=bundles,
        check_files=check_files,
    )  # fmt: skip
    logger = get_run_logger()
    logger.info(
        "site %s: %d written, %d unchanged, %d newly published",
        out, len(report.written), report.unchanged, report.newly_published,
    )  # fmt: skip
    if report.restored or report.unlisted:
        logger.warning(
            "site %s: changed on disk since published, written again: %s; written by no "
            "publish, left as found: %s",
            out, ", ".join(report.restored) or "none", ", ".join(report.unlisted) or "none",
        )  # fmt: skip
    return {
        "out": str(report.out),
        "rounds": report.rounds,
        "results": report.results,
        "written": report.written,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "newly_published": report.newly_published,
        "restored": report.restored,
        "unlisted": report.unlisted,
    }
