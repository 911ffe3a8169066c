"""Prefect tasks of delivery: one task run per dispatcher pass (a batch), never per message."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import task
from prefect.logging import get_run_logger
from sqlmodel import Session

from notifications.admin import dead_letters, status_counts
from notifications.dispatch import dispatch
from shuangsui.db import get_engine


@task(name="dispatch-batch", retries=2, retry_delay_seconds=[30, 120])
def dispatch_batch(round_key: str | None = None) -> dict[str, Any]:
    """Deliver every message due now; transient failures stay queued with backoff."""
    report = dispatch(engine=get_engine(), round_key=round_key)
    get_run_logger().info(
        "dispatched: %d claimed, %d sent, %d retried later, %d dead",
        report.claimed, report.sent, report.retried, report.dead,
    )  # fmt: skip
    return asdict(report)


@task(name="outbox-status")
def outbox_status(round_key: str | None = None) -> dict[str, Any]:
    with Session(get_engine()) as session:
        return {
            "counts": status_counts(session=session, round_key=round_key),
            "dead": [
                {"id": d.id, "round": d.round_key, "to": d.recipient, "error": d.last_error}
                for d in dead_letters(session=session, round_key=round_key)
            ][:50],
        }
