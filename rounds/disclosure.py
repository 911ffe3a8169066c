"""When a round's drawn list becomes public (docs/public-record.md, "Disclosure").

A plan says ``disclosure: on-draw`` (the list is public once drawn) or ``after-window`` (the
default: public once the check window has closed, so no firm reads its own name before its
unannounced check). The commitment is public before the entropy either way; the frame, the
selection and the bundle, which follow, verify against it.

:func:`is_revealed` is the rule (pure, ``now`` explicit). :func:`reveal` records, once, that a
round's list went out, and runs :data:`reveal_hooks` in the same transaction: the partner
exchange appends the round record there, so partners receive it when the site does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col

from draw.plan import DEFAULT_DISCLOSURE
from rounds import audit
from rounds.models import PlanVersion, Round, RoundStatus

ON_DRAW = "on-draw"
AFTER_WINDOW = "after-window"
# rounds whose drawn list (or, failed, the enterprise it stopped at) exists to be revealed
REVEALABLE = (RoundStatus.drawn, RoundStatus.failed, RoundStatus.closed)


def now() -> dt.datetime:
    """The disclosure clock (UTC). Tests pin it; callers that know the time pass ``now``."""
    return dt.datetime.now(dt.UTC)


def policy(plan: Mapping[str, Any]) -> str:
    """The plan's disclosure; a canonical plan without the key means after-window."""
    return str(plan.get("disclosure", DEFAULT_DISCLOSURE))


def window_closes(window_end: dt.date, zone: str) -> dt.datetime:
    """00:00 of the day after the window's last day, in the bureau's zone."""
    return dt.datetime.combine(window_end + dt.timedelta(days=1), dt.time(), ZoneInfo(zone))


def reveal_on(window_end: dt.date) -> str:
    """The ISO date on which an after-window round's list becomes public."""
    return (window_end + dt.timedelta(days=1)).isoformat()


def is_revealed(
    *,
    disclosure: str,
    window_end: dt.date,
    status: str,
    now: dt.datetime,
    zone: str,
    recorded: bool = False,
) -> bool:
    """On-draw; or the check window has closed (``now`` at or after :func:`window_closes`);
    or the round is closed (every result final and published); or it was revealed already
    (``recorded``: a list once public is never withheld again)."""
    return (
        recorded
        or disclosure == ON_DRAW
        or status == RoundStatus.closed.value
        or now >= window_closes(window_end, zone)
    )


@dataclass(frozen=True)
class RoundRevealed:
    """The round's drawn list went public (site and partners) under its disclosure policy."""

    disclosure: str
    by: str  # "draw" (public at once) or "publish" (when the window closed)


# Called with (session, round) inside the transaction that records a reveal; each runs once
# per round, whatever number of draws or publishes, concurrent or not, see it revealed.
RevealHook = Callable[[Session, Round], object]
reveal_hooks: list[RevealHook] = []


def reveal(session: Session, round_key: str, *, at: dt.datetime, disclosure: str, by: str) -> bool:
    """Record that ``round_key`` is revealed (only the first caller wins) and run the hooks in
    the caller's transaction; never commits. True when this call recorded it."""
    won = cast(
        CursorResult,
        session.execute(
            update(Round)
            .where(
                col(Round.round_key) == round_key,
                col(Round.revealed_at).is_(None),
                col(Round.status).in_(REVEALABLE),
            )
            .values(revealed_at=at)
        ),
    ).rowcount
    if not won:
        return False
    rnd = session.get(Round, round_key)
    assert rnd is not None
    session.refresh(rnd)
    for hook in reveal_hooks:
        hook(session, rnd)
    audit.add_to(session, round_key, RoundRevealed(disclosure=disclosure, by=by))
    return True


def reveal_at_draw(session: Session, rnd: Round, zone: str) -> bool:
    """In the draw's transaction: a round public at once (on-draw, or drawn after its window)
    is revealed now, so its hooks run with the draw; any other waits for ``publish``."""
    plan = session.get(PlanVersion, rnd.plan_hash)
    assert plan is not None
    rule = policy(json.loads(plan.canonical_json))
    at = now()
    if not is_revealed(
        disclosure=rule, window_end=rnd.window_end, status=str(rnd.status), now=at, zone=zone
    ):
        return False
    return reveal(session, rnd.round_key, at=at, disclosure=rule, by="draw")
