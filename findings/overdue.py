"""Which results are late, or about to be, for the coordinator.

A result must be published within N working days (default 20) of becoming final; a correction
of a published result within 5. A drawn enterprise whose team has no final finding after the
assignment's due date is listed too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from findings.deadlines import Calendar, add_working_days, working_days_left
from findings.records import ResultRecord

if TYPE_CHECKING:
    import sqlalchemy as sa


@dataclass(frozen=True)
class DueItem:
    round_key: str
    credit_code: str
    what: str  # publish | correction | finding
    version: int | None
    due: date
    days_left: int  # working days; negative = calendar days late
    status: str  # late | due-soon | ok
    warnings: tuple[str, ...] = ()


def due_items(
    records: Iterable[ResultRecord],
    *,
    today: date,
    assignment_due: dict[tuple[str, str], date],
    publish_days: int,
    correction_days: int,
    soon_days: int,
    calendar: Calendar,
    timezone: str = "Asia/Shanghai",
) -> list[DueItem]:
    """Everything not yet done, late first, then by due date. Pure: no database."""
    tz = ZoneInfo(timezone)
    out: list[DueItem] = []
    for rec in records:
        pub = rec.public
        if pub is None:
            due = assignment_due.get((rec.round_key, rec.credit_code))
            if due is not None:
                out.append(_item(rec, "finding", None, due, (), today, soon_days, calendar))
            continue
        if pub.published_at is not None:
            continue
        was_published = any(v.published_at for v in rec.versions if v.version < pub.version)
        days = correction_days if was_published else publish_days
        assert pub.state.final_at is not None
        deadline = add_working_days(pub.state.final_at.astimezone(tz).date(), days, calendar)
        what = "correction" if was_published else "publish"
        out.append(
            _item(
                rec, what, pub.version, deadline.day, deadline.warnings, today, soon_days, calendar
            )
        )
    order = {"late": 0, "due-soon": 1, "ok": 2}
    return sorted(out, key=lambda i: (order[i.status], i.due, i.round_key, i.credit_code))


def _item(
    rec: ResultRecord,
    what: str,
    version: int | None,
    due: date,
    warnings: tuple[str, ...],
    today: date,
    soon_days: int,
    calendar: Calendar,
) -> DueItem:
    left = working_days_left(today, due, calendar)
    status = "late" if due < today else ("due-soon" if left <= soon_days else "ok")
    return DueItem(rec.round_key, rec.credit_code, what, version, due, left, status, warnings)


def report(
    engine: sa.Engine, *, today: date | None = None, round_keys: Sequence[str] | None = None
) -> list[DueItem]:
    """Load the rounds ``round_keys`` (every round when None) and list what is due (see
    :func:`due_items`). A page about one round or one month names its rounds: the bureau's
    whole history (sixty months of rounds after five years) is read only for the full list."""
    import datetime as dt

    import sqlalchemy as sa

    from findings.records import load_results
    from findings.settings import FindingsSettings
    from rounds.models import Assignment
    from shuangsui.config import get_settings

    settings, fs = get_settings(), FindingsSettings()
    today = today or dt.datetime.now(ZoneInfo(settings.timezone)).date()
    table = Assignment.__table__  # type: ignore[attr-defined]
    dues = sa.select(table.c.round_key, table.c.credit_code, table.c.due_on).distinct()
    if round_keys is not None:
        dues = dues.where(table.c.round_key.in_(list(round_keys)))
    with engine.connect() as conn:
        records = load_results(conn, round_keys)
        due = {(rk, code): d for rk, code, d in conn.execute(dues)}
    return due_items(
        records,
        today=today,
        assignment_due=due,
        publish_days=settings.publish_deadline_working_days,
        correction_days=fs.correction_deadline_working_days,
        soon_days=fs.due_soon_working_days,
        calendar=Calendar.from_settings(fs.extra_holidays, fs.extra_workdays),
        timezone=settings.timezone,
    )
