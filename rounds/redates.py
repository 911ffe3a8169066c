"""A team's check given a new date with no one withdrawn (延期; docs/draw-algorithm.md §14
"Due date").

An enterprise closed for a month, a laboratory's result awaited: the coordinator moves the
date of a team's check, with a reason. The rules are a replacement's date's
(``rounds.replacements``, whose checks this module calls): the round is drawn, the
enterprise's finding has no final version, the date is from today (the bureau's time zone) to
a year on; and it differs from the date the check has now. Every seat of the team gets it (the
check is the team's: one finding, signed by all).

In one transaction: every seat's ``assignment`` row takes the date, a ``due_change`` row and a
``DueDateMoved`` audit event record it with the date it replaces, and the hooks tell the team
(``after_redate_hooks``; notifications installs one, which also withdraws the team's
reminders of the old date not yet sent). The links' expiry, the reminders, the escalations,
the deadlines list and the pages read the dates from ``assignment``, so they follow.
``round verify`` checks every assignment's date against the record (``rounds.due_dates``).

A caller may say the date it expects the check to have now (``expected_due_on``: the date the
coordinator's page showed, or an API client read): when another change moved it meanwhile
(two coordinators, two tabs), the move is refused with :class:`DueMoved`, naming the date in
force and who set it, rather than overriding a date its sender never saw. It is compared under
the round's lock, which every change of a team's date takes first: a change that commits
before is seen, one that starts after waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from rounds import audit, replacements
from rounds.due_dates import event_of
from rounds.models import DueChange
from rounds.replacements import Refused, due_now, refuse_moved
from shuangsui.writes import write

logger = logging.getLogger(__name__)

AfterRedate = Callable[[Session, str, "Redated"], None]
after_redate_hooks: list[AfterRedate] = []


@dataclass(frozen=True)
class Redated:
    """What a new date did: the ``n``-th of its round, the team it reaches, the dates."""

    n: int
    credit_code: str
    team: tuple[str, ...]
    old_due_on: date
    due_on: date
    reason: str
    recorded_by: str


def move_due_date(
    engine: Engine,
    round_key: str,
    credit_code: str,
    *,
    due_on: date,
    reason: str,
    recorded_by: str,
    allowed: Callable[[Session], None] | None = None,  # the writer's token still current
    expected_due_on: date | None = None,
) -> Redated:
    """Give the check of ``credit_code``'s team in ``round_key`` the date ``due_on``, every
    seat of the team; :class:`rounds.replacements.Refused` naming why when refused, with
    nothing written. With ``expected_due_on``, only if the check is due on that date now
    (:class:`DueMoved` otherwise); without, whatever date it has."""
    reason = replacements.reason_given(reason, "reason", "say why the check moves")
    today = replacements.bureau_today()
    replacements.due_in_range(due_on, today)
    replacements.printable(recorded_by=recorded_by)

    def work(session: Session) -> Redated:
        replacements.drawn_round(session, round_key, "only a drawn round's checks are re-dated")
        team = replacements.team_of(session, round_key, credit_code)
        if not team:
            raise Refused("no-team", f"round {round_key} has no team for {credit_code}")
        replacements.refuse_final(session, round_key, credit_code, team,
                                  "its check is done and its date can no longer move")  # fmt: skip
        old = due_now(session, round_key, credit_code)
        if expected_due_on is not None:
            refuse_moved(session, round_key, credit_code, expected_due_on)
        if due_on == old:
            said = f"due_on: the check of {credit_code} is due on {old.isoformat()} already"
            raise Refused("due-same", said)
        replacements.date_the_check(session, round_key, credit_code, due_on)
        row = DueChange(
            round_key=round_key,
            n=_count(session, round_key) + 1,
            credit_code=credit_code,
            old_due_on=old,
            due_on=due_on,
            reason=reason,
            recorded_by=recorded_by,
            recorded_at=datetime.now(UTC),
        )
        session.add(row)
        audit.add_to(session, round_key, event_of(row))
        done = Redated(row.n, credit_code, tuple(team), old, due_on, reason, recorded_by)
        for hook in after_redate_hooks:
            hook(session, round_key, done)
        return done

    done = write(engine, work, what=f"a new due date in round {round_key}", allowed=allowed)
    logger.info(
        "round %s: the check of %s due on %s (was %s)",
        round_key, credit_code, done.due_on, done.old_due_on,
    )  # fmt: skip
    return done


def _count(session: Session, round_key: str) -> int:
    """The round's new dates so far (the round's row is locked: none is added meanwhile)."""
    d = DueChange.__table__.c  # type: ignore[attr-defined]
    counted = sa.select(sa.func.count()).where(d.round_key == round_key)
    return session.execute(counted).scalar_one()
