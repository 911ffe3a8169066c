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
def publish_site_task(out: str, bundles: bool = True) -> dict[str, Any]:
    """Render the site into ``out``; only changed files are written."""
    settings = get_settings()
    report = publish(get_engine(settings), Path(out), settings=settings, bundles=bundles)
    get_run_logger().info(
        "site %s: %d written, %d unchanged, %d newly published",
        out, len(report.written), report.unchanged, report.newly_published,
    )  # fmt: skip
    return {
        "out": str(report.out),
        "rounds": report.rounds,
        "results": report.results,
        "written": report.written,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "newly_published": report.newly_published,
    }
