"""``follow-up-findings``: the daily look at open rounds. Reminds inspectors before a check's
deadline, escalates overdue checks to the coordinator, delivers both, lists results late or
about to be late for publication, and closes rounds whose results are all out. Short and
idempotent: the state is in shuangsui's tables, never in a paused flow."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from shuangsui import wiring
from shuangsui.config import get_settings
from shuangsui.db import migrate
from tasks.follow_up import close_rounds, deadline_list, queue_follow_ups
from tasks.notifications import dispatch_batch

wiring.install()


@flow(name="follow-up-findings", log_prints=False)
def follow_up_findings(today: str | None = None) -> dict[str, Any]:
    """Remind, escalate, list late publications and close finished rounds.

    Args:
        today: 以哪一天为准（YYYY-MM-DD），默认今天（北京时间） / the day to act for
            (YYYY-MM-DD); default today in Asia/Shanghai
    """
    settings = get_settings()
    migrate(settings.resolved_database_url)
    day = (
        dt.date.fromisoformat(today)
        if today
        else dt.datetime.now(ZoneInfo(settings.timezone)).date()
    )
    queued = queue_follow_ups(day)
    delivered = dispatch_batch()
    due = deadline_list(day)
    closed = close_rounds()
    lines = [
        f"# Follow-up {day.isoformat()}",
        "",
        f"- reminders queued: {queued['reminders']}, escalations queued: {queued['escalations']}",
        f"- messages delivered this pass: {delivered['sent']} (dead: {delivered['dead']})",
        f"- rounds closed: {', '.join(closed) or 'none'}",
        "",
        f"## Late or due soon ({len(due)})",
        "",
        "| round | credit code | what | due | working days left | status |",
        "|---|---|---|---|---:|---|",
        *(f"| {d['round']} | {d['credit_code']} | {d['what']} | {d['due']} | {d['days_left']} "
          f"| {d['status']} |" for d in due[:200]),
    ]  # fmt: skip
    create_markdown_artifact(key=f"follow-up-{day.isoformat()}", markdown="\n".join(lines) + "\n")
    return {"queued": queued, "delivered": delivered, "due": due, "closed": closed}
