"""``dispatch-notifications``: deliver the outbox. Short, scheduled every few minutes and
triggered after each draw; the durable state is the outbox table, so a run that dies is
simply followed by the next one (at most the messages in flight at that instant repeat, each
with its idempotency key)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from shuangsui.config import get_settings
from shuangsui.db import migrate
from tasks.artifacts import artifact_key
from tasks.notifications import dispatch_batch, outbox_status


@flow(name="dispatch-notifications", log_prints=False)
def dispatch_notifications(round_key: str | None = None) -> dict[str, Any]:
    """Deliver the outbox: one batch, bounded concurrency, retries and dead letters.

    Args:
        round_key: 只发送该轮次的通知，默认全部 / only this round's messages; default all
    """
    from prefect.artifacts import create_markdown_artifact

    migrate(get_settings().resolved_database_url)
    report = dispatch_batch(round_key)
    status = outbox_status(round_key)
    lines = [
        f"# Outbox{' of ' + round_key if round_key else ''}",
        "",
        f"This pass: {report['sent']} sent, {report['retried']} to retry, {report['dead']} dead.",
        "",
        "| status | messages |",
        "|---|---:|",
        *(f"| {k} | {v} |" for k, v in sorted(status["counts"].items())),
    ]
    if status["dead"]:
        lines += ["", "Dead letters (fix the address, then `shuangsui notifications retry`):", ""]
        lines += [f"- {d['round']} → {d['to']}: {d['error']}" for d in status["dead"]]
    create_markdown_artifact(
        key=artifact_key("outbox", round_key or "all"), markdown="\n".join(lines) + "\n"
    )
    return {"report": report, **status}
