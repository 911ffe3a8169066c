"""Closing a round: every drawn enterprise has a final finding and it has been published."""

from __future__ import annotations

import logging
from typing import NamedTuple, cast

from sqlalchemy import CursorResult, Engine, select, update
from sqlmodel import Session, col

from findings.records import load_results
from rounds import audit
from rounds.models import Round, RoundStatus

logger = logging.getLogger(__name__)


class FindingsIn(NamedTuple):
    """Where the checks of the open (drawn) rounds stand, by (round_key, credit_code)."""

    done: set[tuple[str, str]]  # a final finding
    signed: dict[tuple[str, str], tuple[str, ...]]  # none final: who signed the latest version


def findings_in(engine: Engine) -> FindingsIn:
    """What the follow-up needs to know of each check of the drawn rounds: done (a final
    finding: no reminder, no escalation), or submitted and waiting for signatures (a reminder
    only to whoever has yet to sign, asking for the signature)."""
    with engine.connect() as conn:
        drawn = select(col(Round.round_key)).where(col(Round.status) == RoundStatus.drawn)
        keys = list(conn.scalars(drawn))
        records = load_results(conn, keys) if keys else []
    done = {(r.round_key, r.credit_code) for r in records if r.public is not None}
    signed = {
        (r.round_key, r.credit_code): r.versions[-1].state.signed_by
        for r in records
        if r.public is None and r.versions
    }
    return FindingsIn(done, signed)


def close_finished_rounds(engine: Engine) -> list[str]:
    """Mark drawn rounds closed once every result is final and published; returns their keys."""
    with engine.connect() as conn:
        keys = [
            k
            for (k,) in conn.execute(
                select(col(Round.round_key)).where(col(Round.status) == RoundStatus.drawn)
            )
        ]
        if not keys:
            return []
        records = load_results(conn, keys)
    pending: dict[str, int] = dict.fromkeys(keys, 0)
    totals: dict[str, int] = dict.fromkeys(keys, 0)
    for r in records:
        totals[r.round_key] += 1
        public = r.public
        if public is None or public.published_at is None:
            pending[r.round_key] += 1
    closed = []
    for key in keys:
        if totals[key] == 0 or pending[key]:
            continue
        with Session(engine) as session:
            won = cast(
                CursorResult,
                session.execute(
                    update(Round)
                    .where(col(Round.round_key) == key, col(Round.status) == RoundStatus.drawn)
                    .values(status=RoundStatus.closed)
                ),
            ).rowcount
            if won:
                audit.add_to(session, key, audit.RoundClosed(results=totals[key]))
                session.commit()
                closed.append(key)
                logger.info("round %s closed: %d results published", key, totals[key])
    return closed
