"""Writing messages to the outbox table, inside the caller's transaction (never committing).

The round service calls :func:`enqueue_round_assignments` in the same transaction that writes
the assignments, so the messages exist if and only if the draw does.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import groupby, islice
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from notifications import facts, generations, outbox_rows
from notifications.messages import (
    AssignmentMessages,
    Common,
    EnterpriseInfo,
    Outgoing,
    Person,
    RoundInfo,
    assignment_message,
    coordinator_message,
    enterprise_notice_message,
    round_held_message,
    route,
)
from notifications.models import Channel, Notification, NotificationKind
from notifications.settings import NotifySettings
from notifications.workdays import working_days_between
from rounds.models import Assignment, Round, RoundStatus
from shuangsui.config import Settings, get_settings

logger = logging.getLogger(__name__)
# A round's notices are built and written this many enterprises at a time: a draw's memory
# does not grow with its notices (a sample of 75,000 teams made 260 MB of messages at once).
TEAMS_PER_BATCH = 2_000


@dataclass(frozen=True)
class EnqueueResult:
    queued: int  # new rows (repeats of an earlier call are skipped)
    messages: int  # messages built
    unreachable: list[str] = field(default_factory=list)  # inspector ids with no channel


def add_messages(
    session: Session,
    messages: list[Outgoing],
    now: datetime | None = None,
    *,
    present: set[str] | None = None,
) -> int:
    """Insert ``messages`` into the outbox, skipping idempotency keys already present.

    ``present``: those keys when the caller knows them (a round with no rows before the call:
    the keys the call has written itself), instead of looking them up; the keys written here
    are added to it."""
    if not messages:
        return 0
    now = now or datetime.now(UTC)
    new_round = present is not None
    if present is None:
        present = set()
        for chunk in facts._chunks([m.idempotency_key for m in messages]):
            stmt = select(Notification.idempotency_key).where(
                col(Notification.idempotency_key).in_(chunk)
            )
            present.update(session.exec(stmt).all())
    new: list[Outgoing] = []
    for m in messages:
        if m.idempotency_key not in present:
            present.add(m.idempotency_key)
            new.append(m)
    if not new:
        return 0
    if not new_round:  # a link a coordinator ended since: the message carries the new one
        new = generations.current_links(session, new, get_settings().secret_key.get_secret_value())
    outbox_rows.insert(session, new, now, new_round=new_round)
    logger.debug("outbox: %d new message(s)", len(new))
    return len(new)


def _has_messages(session: Session, round_key: str) -> bool:
    stmt = sa.select(sa.exists().where(col(Notification.round_key) == round_key))
    return bool(session.execute(stmt).scalar())


def _coordinator(notify: NotifySettings) -> Person:
    person = facts.coordinator(notify)
    if route(person)[0] == Channel.none:
        logger.warning(
            "no coordinator email or webhook configured: coordinator messages go to the file outbox"
        )
    return person


def _to_file_if_unroutable(out: Outgoing) -> Outgoing:
    from dataclasses import replace

    if out.channel == Channel.none:
        return replace(out, channel=Channel.file, address="coordinator")
    return out


def enqueue_round_assignments(
    *,
    session: Session,
    round_key: str,
    today: date | None = None,
    enterprise_notice: bool = False,
    enterprise_emails: Mapping[str, str] | None = None,
    summary: bool = True,
    settings: Settings | None = None,
    notify: NotifySettings | None = None,
    teams: Iterable[facts.Team] | None = None,
    extra_context: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> EnqueueResult:
    """Queue one 检查任务通知 per assignment, the coordinator's round summary and, when the plan
    asks for it, one 检查告知书 per enterprise. Adds rows to ``session``; never commits.
    ``teams``: the round's in credit-code order, when the caller holds them (the draw: made as
    they are read); read otherwise. Facts are read and messages written a batch at a time.
    ``extra_context``: more template context for some notices, by credit code then inspector
    id (a replacement's: whose seat they take, ``messages.seat_taken``); a draw passes none."""
    extra_context = extra_context or {}
    notify = notify or NotifySettings()
    common = facts.common(today=today, settings=settings, notify=notify)
    info, kinds = facts.round_info(session, round_key)
    if teams is None:
        teams = facts.teams(facts.assignments(session, round_key))

    assignments_of = AssignmentMessages(common, info)
    # A round with nothing in the outbox yet (the draw's) has no key to look up: one EXISTS.
    # Its batches cannot repeat one another's keys (each names its enterprise, and no two
    # batches share one), so each batch is checked against itself alone.
    fresh = not _has_messages(session, round_key)
    queued = built = members = 0
    people: dict[str, Person] = {}  # everyone met so far
    rows: list[dict[str, Any]] = []  # the summary names every team
    for batch in _batches(teams, TEAMS_PER_BATCH):
        codes = [t.credit_code for t in batch]
        ents = facts.enterprises(session, codes)
        certs = facts.certificates(session, codes, kinds)
        new = {i for t in batch for i, _, _ in t.members} - people.keys()
        people.update(facts.inspectors(session, new))
        messages: list[Outgoing] = []
        for team in batch:
            enterprise = ents[team.credit_code]
            messages += assignments_of.team(
                enterprise=enterprise,
                certificates=certs.get(team.credit_code, []),
                team=[(people[i], position == 0, due) for i, position, due in team.members],
                extra=extra_context.get(team.credit_code),
            )
            if enterprise_notice:
                messages.append(
                    enterprise_notice_message(
                        common,
                        round_info=info,
                        enterprise=enterprise,
                        team=[people[i] for i, _, _ in team.members],
                        email=(enterprise_emails or {}).get(team.credit_code, ""),
                    )
                )
            if summary:
                rows.append(_summary_row(team, enterprise.name, people))
            members += len(team.members)
        built += len(messages)
        queued += add_messages(session, messages, present=set() if fresh else None)
    unreachable = sorted(i for i, p in people.items() if route(p)[0] == Channel.none)
    if summary:
        built += 1
        counts = {"enterprises": len(rows), "inspectors": len(people), "messages": members}
        summary_message = _summary(common, info, rows, counts, people, unreachable, notify)
        queued += add_messages(session, [summary_message], present=set() if fresh else None)
    logger.info("outbox: round %s, %d new message(s) of %d", round_key, queued, built)
    return EnqueueResult(queued=queued, messages=built, unreachable=unreachable)


def _batches(teams: Iterable[facts.Team], size: int) -> Iterator[list[facts.Team]]:
    it = iter(teams)
    while batch := list(islice(it, size)):
        yield batch


def _summary_row(team: facts.Team, name: str, people: Mapping[str, Person]) -> dict[str, Any]:
    return {
        "credit_code": team.credit_code,
        "enterprise_name": name,
        "team": [people[i].name for i, _, _ in team.members],
        "due_on": team.due_on.isoformat(),
    }


def _summary(common, info, rows, counts, people, unreachable, notify) -> Outgoing:  # type: ignore[no-untyped-def]
    context = {
        "counts": counts,
        "rows": rows,
        "unreachable": [{"inspector_id": i, "name": people[i].name} for i in unreachable],
    }
    out = coordinator_message(
        common,
        template="round_summary",
        kind=NotificationKind.round_summary,
        round_info=info,
        coordinator=_coordinator(notify),
        subject_key="summary",
        context=context,
        payload={"counts": counts, "unreachable": unreachable},
    )
    return _to_file_if_unroutable(out)


def enqueue_reminders(
    *,
    session: Session,
    today: date | None = None,
    within_working_days: int = 3,
    done: Collection[tuple[str, str]] = (),
    signed: Mapping[tuple[str, str], Collection[str]] | None = None,
    settings: Settings | None = None,
    notify: NotifySettings | None = None,
) -> int:
    """Remind each inspector once per deadline when it is ``within_working_days`` away.
    ``done``: (round_key, credit_code) pairs whose findings are in (final); ``signed``: of
    those submitted and not final, who signed the latest version. A member who signed it is
    not reminded; one who has not is asked for the signature (``awaiting_signature``).

    The checks not yet due are read in one query (:func:`_coming_due`), and the people and
    enterprises to name in one each: a round stays drawn until each of its checks is final,
    and reading every drawn round's assignments, round by round, grew with every round ever
    drawn. Only a round with someone to remind is read for its title and check item.

    The drawn rounds are held first (:func:`_hold_drawn_rounds`), so a date being moved is
    read as it was before the change or as it is after, never queued as the change commits."""
    signed = signed or {}
    notify = notify or NotifySettings()
    common = facts.common(today=today, settings=settings, notify=notify)
    _hold_drawn_rounds(session)
    rows = [
        (round_key, a)
        for round_key, a in _coming_due(session, common.today)
        if (round_key, a.credit_code) not in done
        and a.inspector_id not in signed.get((round_key, a.credit_code), ())
        and working_days_between(common.today, a.due_on) <= within_working_days
    ]
    if not rows:
        return 0
    ents = facts.enterprises(session, [a.credit_code for _, a in rows])
    people = facts.inspectors(session, [a.inspector_id for _, a in rows])
    submitted = {(rk, code) for rk, code in signed}
    messages: list[Outgoing] = []
    for round_key, group in groupby(rows, key=itemgetter(0)):
        info, _ = facts.round_info(session, round_key)
        messages += [
            _reminder(common, info, a, ents, people, (round_key, a.credit_code) in submitted)
            for _, a in group
        ]
    return add_messages(session, messages)


def _hold_drawn_rounds(session: Session) -> None:
    """The drawn rounds' rows held until the transaction ends (PostgreSQL: ``FOR KEY SHARE``;
    SQLite's transaction holds the write lock already), before their checks' dates are read
    (the reminders', the escalations'). Taken again in a transaction that holds it, the lock
    is granted at once: each caller takes it, whatever ran before it in the transaction.

    A new date (``rounds.redates``), or a replacement that gives one, moves a team's dates
    with its round's row locked for update, and withdraws the reminders of the old date in
    that transaction (``notifications.hooks.withdraw_reminders``). Without the hold, the
    follow-up could read the old date, the change commit (finding no reminder to withdraw),
    and a reminder of the old date be queued after it, and go. Held, the follow-up waits for
    a change under way and reads the new date; a change started meanwhile waits for the
    follow-up, then withdraws what it queued. Key share: a plain update of a round's row (a
    round closed) does not wait for it, nor it for one."""
    session.execute(
        sa.select(col(Round.round_key))
        .where(col(Round.status) == RoundStatus.drawn)
        .order_by(col(Round.round_key))
        .with_for_update(read=True, key_share=True)
    ).all()


def _coming_due(session: Session, today: date) -> list[tuple[str, facts.AssignmentRow]]:
    """The assignments of drawn rounds due ``today`` or later, by round, enterprise and
    position (the order the round-by-round reading gave): one query, whatever the number of
    rounds drawn over the years."""
    stmt = (
        sa.select(col(Assignment.round_key), col(Assignment.credit_code),
                  col(Assignment.inspector_id), col(Assignment.position),
                  col(Assignment.due_on))
        .join(Round, col(Round.round_key) == col(Assignment.round_key))
        .where(col(Round.status) == RoundStatus.drawn, col(Assignment.due_on) >= today)
        .order_by(col(Assignment.round_key), col(Assignment.credit_code),
                  col(Assignment.position))
    )  # fmt: skip
    return [(rk, facts.AssignmentRow(*rest)) for rk, *rest in session.execute(stmt)]


def _reminder(
    common: Common,
    info: RoundInfo,
    a: facts.AssignmentRow,
    ents: Mapping[str, EnterpriseInfo],
    people: Mapping[str, Person],
    awaiting_signature: bool,
) -> Outgoing:
    return assignment_message(
        common,
        round_info=info,
        enterprise=ents[a.credit_code],
        certificates=[],
        inspector=people[a.inspector_id],
        lead=a.position == 0,
        team=[],
        due_on=a.due_on,
        kind=NotificationKind.reminder,
        subject_suffix=f"|{a.due_on.isoformat()}",
        awaiting_signature=awaiting_signature,
    )


def enqueue_overdue_escalations(
    *,
    session: Session,
    today: date | None = None,
    done: Collection[tuple[str, str]] = (),
    settings: Settings | None = None,
    notify: NotifySettings | None = None,
) -> int:
    """A message to the coordinator for each round with a check newly past its deadline,
    listing all of the round's late checks. A late check is said once: a round stays open
    until each of its checks has a final finding, and escalating the same checks every day
    sent, after five years of monthly rounds, 120 messages each morning about checks of
    years before (the month's and the round's pages, and ``findings deadlines``, list them).

    For the same reason the late checks of every drawn round are read in one query
    (:func:`_late_teams`), what the escalations named already in one more, and the people and
    enterprises to name in one each; only a round with something new to say is read for its
    title and check item.

    Said once per date: a check given a new date (延期, or a replacement that gives one) and
    late again past it is named again, with the rest of its round's (the coordinator gave it
    more time, and it is late once more: news); a date moves only by a coordinator's hand, to
    a day not gone, so this cannot repeat day after day.

    The drawn rounds are held first (:func:`_hold_drawn_rounds`), as the reminders hold them:
    a check given a new date as this runs is read with the date it had before (late then,
    and said so) or with the new one, never named late against a date the change is taking
    away as it commits. The follow-up calls this after :func:`enqueue_reminders`, in its
    transaction: the hold is taken again there, and granted at once (it is the
    transaction's own)."""
    notify = notify or NotifySettings()
    common = facts.common(today=today, settings=settings, notify=notify)
    _hold_drawn_rounds(session)
    said = _escalated(session)
    news = {
        round_key: late
        for round_key, late in _late_teams(session, common.today, done).items()
        if not all(_said(t, said.get(round_key, set())) for t in late)
    }
    everyone = [t for late in news.values() for t in late]
    ents = facts.enterprises(session, [t.credit_code for t in everyone])
    people = facts.inspectors(session, [i for t in everyone for i, _, _ in t.members])
    messages = [
        _escalation(common, notify, facts.round_info(session, round_key)[0], late, ents, people)
        for round_key, late in news.items()
    ]
    return add_messages(session, messages)


def _late_teams(
    session: Session, today: date, done: Collection[tuple[str, str]]
) -> dict[str, list[facts.Team]]:
    """The teams of drawn rounds past their day (a team's is its earliest member's) without a
    final finding (``done``), by round in key order, each in credit-code order: one query, of
    the late checks' assignments only, whatever the number of rounds drawn over the years."""
    member = aliased(Assignment)
    past = sa.exists().where(
        col(member.round_key) == col(Assignment.round_key),
        col(member.credit_code) == col(Assignment.credit_code),
        col(member.due_on) < today,
    )
    stmt = (
        sa.select(col(Assignment.round_key), col(Assignment.credit_code),
                  col(Assignment.inspector_id), col(Assignment.position),
                  col(Assignment.due_on))
        .join(Round, col(Round.round_key) == col(Assignment.round_key))
        .where(col(Round.status) == RoundStatus.drawn, past)
        .order_by(col(Assignment.round_key), col(Assignment.credit_code),
                  col(Assignment.position))
    )  # fmt: skip
    out: dict[str, list[facts.Team]] = {}
    for round_key, rows in groupby(session.execute(stmt), key=itemgetter(0)):
        teams = facts.teams([facts.AssignmentRow(*rest) for _, *rest in rows])
        if late := [t for t in teams if (round_key, t.credit_code) not in done]:
            out[round_key] = late
    return out


def _escalated(session: Session) -> dict[str, set[tuple[str, str | None]]]:
    """The checks of each drawn round an escalation has named already, each with the date
    it was late against (None: named before the escalations kept the dates)."""
    stmt = (
        sa.select(col(Notification.round_key), col(Notification.payload))
        .join(Round, col(Round.round_key) == col(Notification.round_key))
        .where(col(Round.status) == RoundStatus.drawn)
        .where(col(Notification.kind) == NotificationKind.overdue)
    )
    out: dict[str, set[tuple[str, str | None]]] = {}
    for round_key, payload in session.execute(stmt):
        dates = payload.get("due_on", {})
        named = ((str(c), dates.get(c)) for c in payload.get("overdue", []))
        out.setdefault(round_key, set()).update(named)
    return out


def _said(team: facts.Team, said: set[tuple[str, str | None]]) -> bool:
    """An escalation named the team's check late against the date it has now; one that
    kept no date (made before they were kept) is taken to have named it at any date, so
    what was said then is not said again."""
    code = team.credit_code
    return (code, team.due_on.isoformat()) in said or (code, None) in said


def _escalation(
    common: Common,
    notify: NotifySettings,
    info: RoundInfo,
    late: list[facts.Team],
    ents: Mapping[str, EnterpriseInfo],
    people: Mapping[str, Person],
) -> Outgoing:
    overdue = [
        {
            "credit_code": t.credit_code,
            "enterprise_name": ents[t.credit_code].name,
            "due_on": t.due_on.isoformat(),
            "working_days_overdue": working_days_between(t.due_on, common.today),
            "team": [people[i].name for i, _, _ in t.members],
        }
        for t in late
    ]
    out = coordinator_message(
        common,
        template="overdue",
        kind=NotificationKind.overdue,
        round_info=info,
        coordinator=_coordinator(notify),
        subject_key=common.today.isoformat(),
        context={"overdue": overdue},
        payload={
            "overdue": [o["credit_code"] for o in overdue],
            "due_on": {o["credit_code"]: o["due_on"] for o in overdue},
        },
    )
    return _to_file_if_unroutable(out)


# When a held round is tried again, as its round_held message says it: a run of the monthly
# deployment at ``next_at``, then each hour till the registry is imported ("retry"); none, as the
# month ends first ("month_end"), as no deployment ran it ("by_hand"), as an import does not clear
# the hold ("plan"), or as it is an ad hoc round ("adhoc").
NEXT_TRY = ("retry", "month_end", "by_hand", "plan", "adhoc")


def enqueue_round_held(
    *,
    session: Session,
    round_key: str,
    plan_id: str,
    reasons: list[str],
    preview: list[str],
    next_try: str = "by_hand",
    next_at: str = "",
    period: str = "",
    settings: Settings | None = None,
    notify: NotifySettings | None = None,
) -> int:
    """Tell the coordinator that ``round_key`` was not committed, why, and when it is tried
    again (``next_try``, one of :data:`NEXT_TRY`; ``next_at`` the retry's time in the bureau's
    zone; ``period`` the monthly round's month, to run it again with), once per distinct set
    of reasons and ``next_try``: the hourly runs over the same stale registry do not repeat it,
    the month's end says so once more."""
    if next_try not in NEXT_TRY:
        raise ValueError(f"next_try: {next_try!r} is not one of {', '.join(NEXT_TRY)}")
    notify = notify or NotifySettings()
    common = facts.common(settings=settings, notify=notify)
    out = round_held_message(
        common,
        round_key=round_key,
        coordinator=_coordinator(notify),
        context={
            "plan_id": plan_id,
            "reasons": reasons,
            "preview": preview,
            "next_try": next_try,
            "next_at": next_at,
            "period": period,
        },  # fmt: skip
    )
    return add_messages(session, [_to_file_if_unroutable(out)])
