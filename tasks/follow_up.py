"""Tasks of the follow-up: reminders and escalations as queued messages, closing rounds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import task
from prefect.logging import get_run_logger
from sqlmodel import Session

from findings.overdue import report as due_report
from notifications.outbox import enqueue_overdue_escalations, enqueue_reminders
from rounds.closing import close_finished_rounds, findings_in
from shuangsui.db import get_engine


@task(name="queue-follow-ups")
def queue_follow_ups(today: dt.date) -> dict[str, int]:
    """Reminders before a check's deadline and escalations after it, in one transaction; each
    message has its idempotency key, so a re-run the same day queues nothing new."""
    engine = get_engine()
    state = findings_in(engine)
    with Session(engine) as session:
        reminders = enqueue_reminders(session=session, today=today, done=state.done,
                                      signed=state.signed)  # fmt: skip
        escalations = enqueue_overdue_escalations(session=session, today=today, done=state.done)
        session.commit()
    get_run_logger().info("queued %d reminders, %d escalations", reminders, escalations)
    return {"reminders": reminders, "escalations": escalations}


@task(name="close-rounds")
def close_rounds() -> list[str]:
    return close_finished_rounds(get_engine())


@task(name="deadline-list")
def deadline_list(today: dt.date) -> list[dict[str, Any]]:
    items = due_report(get_engine(), today=today)
    return [
        {"round": i.round_key, "credit_code": i.credit_code, "what": i.what,
         "due": i.due.isoformat(), "days_left": i.days_left, "status": i.status}
        for i in items
        if i.status != "ok"
    ]  # fmt: skip
