"""Prefect task of the partner exchange: one partner's whole sync (all its pages) per call."""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from exchange.directory import get_partner
from exchange.settings import exchange_settings
from exchange.sync import sync_partner
from shuangsui.db import get_engine


@task(name="sync-partner", task_run_name="sync-partner-{code}")
def sync_partner_task(code: str) -> dict[str, Any]:
    """Pull one partner; a partner's fault is an outcome (status failed/rewritten), not a crash."""
    out = sync_partner(
        get_engine(), get_partner(code), timeout=exchange_settings().exchange_timeout
    )
    logger = get_run_logger()
    if out.status == "ok":
        logger.info("partner %s: %d -> %d (%d new)", code, out.before, out.after, out.applied)
    else:
        logger.error("partner %s %s, nothing applied: %s", code, out.status, out.error)
    return dataclasses.asdict(out)
