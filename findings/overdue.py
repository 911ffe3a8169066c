"""Which results are late, or about to be, for the coordinator.

A result must be published within N working days (default 20) of becoming final; a correction
of a published result within 5. A drawn enterprise whose team has no final finding after the
assignment's due date is listed too.

The whole list (:func:`report`) computes every round it names; a page of the coordinator's
``GET /deadlines`` (:func:`page`) only the rounds that can hold its items.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from findings import due_records
from findings.deadlines import Calendar, add_working_days, working_days_left
from findings.due_records import ResultDue

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
    records: Iterable[ResultDue],
    *,
    today: date,
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
            out.append(_item(rec, "finding", None, rec.due_on, (), today, soon_days, calendar))
            continue
        if pub.published:
            continue
        was_published = any(v.published for v in rec.versions if v.version < pub.version)
        days = correction_days if was_published else publish_days
        final_at = rec.final_at(pub)
        assert final_at is not None
        deadline = add_working_days(final_at.astimezone(tz).date(), days, calendar)
        what = "correction" if was_published else "publish"
        out.append(
            _item(
                rec, what, pub.version, deadline.day, deadline.warnings, today, soon_days, calendar
            )
        )
    order = {"late": 0, "due-soon": 1, "ok": 2}
    return sorted(out, key=lambda i: (order[i.status], i.due, i.round_key, i.credit_code))


def _item(
    rec: ResultDue,
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


@dataclass(frozen=True)
class Rules:
    """How the due dates are counted (the settings), and the day the list is made on."""

    today: date
    publish_days: int
    correction_days: int
    soon_days: int
    calendar: Calendar
    timezone: str

    @classmethod
    def from_settings(cls, today: date | None = None) -> Rules:
        import datetime as dt

        from findings.settings import FindingsSettings
        from shuangsui.config import get_settings

        settings, fs = get_settings(), FindingsSettings()
        return cls(
            today=today or dt.datetime.now(ZoneInfo(settings.timezone)).date(),
            publish_days=settings.publish_deadline_working_days,
            correction_days=fs.correction_deadline_working_days,
            soon_days=fs.due_soon_working_days,
            calendar=Calendar.from_settings(fs.extra_holidays, fs.extra_workdays),
            timezone=settings.timezone,
        )


def report(
    engine: sa.Engine, *, today: date | None = None, round_keys: Sequence[str] | None = None
) -> list[DueItem]:
    """Load the rounds ``round_keys`` (every round when None) and list what is due (see
    :func:`due_items`). A page about one round or one month names its rounds: the bureau's
    whole history (sixty months of rounds after five years) is read only for the full list."""
    rules = Rules.from_settings(today)
    with engine.connect() as conn:
        return _report(conn, rules, round_keys)


def _report(conn: sa.Connection, rules: Rules, round_keys: Sequence[str] | None) -> list[DueItem]:
    return due_items(
        due_records.load(conn, round_keys),
        today=rules.today,
        publish_days=rules.publish_days,
        correction_days=rules.correction_days,
        soon_days=rules.soon_days,
        calendar=rules.calendar,
        timezone=rules.timezone,
    )


Key = tuple[date, str, str]


def item_key(item: DueItem) -> Key:
    """An item's place in the coordinator's list (``GET /deadlines``): due day, round,
    enterprise. No two items share it, and an item keeps it as days pass."""
    return item.due, item.round_key, item.credit_code


@dataclass(frozen=True)
class Span:
    """The earliest and the latest day an item of a round can be due."""

    round_key: str
    first: date
    last: date


def round_spans(conn: sa.Connection, rules: Rules) -> list[Span]:
    """Each round's :class:`Span`, from two grouped reads (no finding is read).

    A finding's item is due on its assignment's due date: between the round's earliest and
    latest. A result's is ``publish_days`` (``correction_days`` for a correction) working
    days after the day it became final, its team's last signature, a signature of the
    round: between the fewer days counted from the round's first signature and the more
    days counted from its last. A round with neither a due date nor a signature can hold no
    item and has no span."""
    import sqlalchemy as sa

    from findings.models import Finding, FindingSignoff, FindingVersion
    from findings.state import utc
    from rounds.models import Assignment

    a = Assignment.__table__.c  # type: ignore[attr-defined]
    f = Finding.__table__  # type: ignore[attr-defined]
    v = FindingVersion.__table__  # type: ignore[attr-defined]
    s = FindingSignoff.__table__.c  # type: ignore[attr-defined]
    bounds: dict[str, list[date]] = {}
    dues = sa.select(a.round_key, sa.func.min(a.due_on), sa.func.max(a.due_on))
    for key, first, last in conn.execute(dues.group_by(a.round_key)):
        if first is not None:
            bounds.setdefault(key, []).extend((first, last))
    signed = (
        sa.select(f.c.round_key, sa.func.min(s.signed_at), sa.func.max(s.signed_at))
        .join(v, v.c.id == s.version_id)
        .join(f, f.c.id == v.c.finding_id)
        .group_by(f.c.round_key)
    )
    tz, fewer = ZoneInfo(rules.timezone), min(rules.publish_days, rules.correction_days)
    more = max(rules.publish_days, rules.correction_days)
    for key, first_at, last_at in conn.execute(signed):
        first, last = (utc(at).astimezone(tz).date() for at in (first_at, last_at))
        bounds.setdefault(key, []).extend(
            (
                add_working_days(first, fewer, rules.calendar).day,
                add_working_days(last, more, rules.calendar).day,
            )
        )
    return [Span(key, min(days), max(days)) for key, days in bounds.items()]


def page(
    engine: sa.Engine,
    *,
    after: Key | None,
    limit: int,
    pending_only: bool,
    today: date | None = None,
) -> list[DueItem]:
    """The first ``limit + 1`` items whose key (:func:`item_key`) comes after ``after``, in
    that order (late or due soon only, when ``pending_only``): a page of ``GET /deadlines``
    and one more, which says another page follows.

    Only the rounds that can hold them are computed (:func:`round_spans`): a round whose
    latest possible due day is before ``after``'s is left out; the others are taken in the
    order of their earliest possible due day, until the items found fill the page before the
    next round's earliest day (its items, and those of the rounds after it, come after the
    page). A page costs its own rounds, not the whole history's (122 rounds after five
    years: every one was computed for each page of 100 items)."""
    rules = Rules.from_settings(today)
    found: list[DueItem] = []
    with engine.connect() as conn:
        spans = [s for s in round_spans(conn, rules) if after is None or s.last >= after[0]]
        for span in sorted(spans, key=lambda s: s.first):
            if len(found) > limit and found[limit].due < span.first:
                break
            found += [
                item
                for item in _report(conn, rules, [span.round_key])
                if (after is None or item_key(item) > after)
                and not (pending_only and item.status == "ok")
            ]
            found.sort(key=item_key)
    return found[: limit + 1]
