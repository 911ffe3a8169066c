"""Closing a round: every drawn enterprise has a final finding and it has been published.

A round stays open (drawn) until then, so after years the open rounds include every round with
a check never finished (five years: all 122). The daily follow-up reads of them only what it
decides by, in plain columns: who signed which version (:func:`findings_in`), and how many of
a round's enterprises have a published result (:func:`close_finished_rounds` reads a round's
results whole only once that count says it may be finished)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy import Connection, CursorResult, Engine, select, update
from sqlmodel import Session, col

from findings.models import Finding, FindingSignoff, FindingVersion, PublishedResult
from findings.records import load_results
from findings.state import is_final
from rounds import audit
from rounds.models import Assignment, Round, RoundStatus

logger = logging.getLogger(__name__)

_A = Assignment.__table__  # type: ignore[attr-defined]
_F = Finding.__table__  # type: ignore[attr-defined]
_FV = FindingVersion.__table__  # type: ignore[attr-defined]
_S = FindingSignoff.__table__  # type: ignore[attr-defined]
_P = PublishedResult.__table__  # type: ignore[attr-defined]

Check = tuple[str, str]  # (round_key, credit_code)


class FindingsIn(NamedTuple):
    """Where the checks of the open (drawn) rounds stand, by (round_key, credit_code)."""

    done: set[Check]  # a final finding
    signed: dict[Check, tuple[str, ...]]  # none final: who signed the latest version


def _open_rounds(conn: Connection) -> list[str]:
    drawn = select(col(Round.round_key)).where(col(Round.status) == RoundStatus.drawn)
    return list(conn.scalars(drawn))


def findings_in(engine: Engine) -> FindingsIn:
    """What the follow-up needs to know of each check of the drawn rounds: done (a final
    finding: no reminder, no escalation), or submitted and waiting for signatures (a reminder
    only to whoever has yet to sign, asking for the signature). Read as teams and signatures
    only (``findings.state.is_final``), not as whole results: a version's text, certificates
    and measures are no business of the follow-up."""
    with engine.connect() as conn:
        keys = _open_rounds(conn)
        teams = _teams(conn, keys) if keys else {}
        versions = _signatures(conn, keys) if keys else {}
    done, signed = set(), {}
    for check, signers in versions.items():
        if check not in teams:  # pragma: no cover - a finding always has an assignment
            continue
        if any(is_final(teams[check], who) for who in signers):
            done.add(check)
        else:
            signed[check] = tuple(sorted(signers[-1]))
    return FindingsIn(done, signed)


def _teams(conn: Connection, keys: Sequence[str]) -> dict[Check, set[str]]:
    teams: dict[Check, set[str]] = {}
    q = select(_A.c.round_key, _A.c.credit_code, _A.c.inspector_id)
    for key, code, inspector in conn.execute(q.where(_A.c.round_key.in_(list(keys)))):
        teams.setdefault((key, code), set()).add(inspector)
    return teams


def _signatures(conn: Connection, keys: Sequence[str]) -> dict[Check, list[set[str]]]:
    """Who signed each version of each check's finding, the versions in order."""
    q = (
        select(_F.c.round_key, _F.c.credit_code, _FV.c.version, _S.c.inspector_id)
        .join(_FV, _FV.c.finding_id == _F.c.id)
        .outerjoin(_S, _S.c.version_id == _FV.c.id)
        .where(_F.c.round_key.in_(list(keys)))
        .order_by(_F.c.round_key, _F.c.credit_code, _FV.c.version)
    )
    versions: dict[Check, dict[int, set[str]]] = {}
    for key, code, version, inspector in conn.execute(q):
        signers = versions.setdefault((key, code), {}).setdefault(version, set())
        if inspector is not None:
            signers.add(inspector)
    return {check: list(by_version.values()) for check, by_version in versions.items()}


def _may_be_finished(conn: Connection, keys: Sequence[str]) -> list[str]:
    """The rounds of ``keys`` each of whose enterprises has a published result (of some
    version): only those can be finished, so only those are read whole."""
    wanted = list(keys)
    enterprises = sa.func.count(sa.distinct(_A.c.credit_code))
    assigned = _per_round(
        select(_A.c.round_key, enterprises)
        .where(_A.c.round_key.in_(wanted))
        .group_by(_A.c.round_key),
        conn,
    )
    with_results = sa.func.count(sa.distinct(_F.c.credit_code))
    published = _per_round(
        select(_F.c.round_key, with_results)
        .join(_P, _P.c.finding_id == _F.c.id)
        .where(_F.c.round_key.in_(wanted))
        .group_by(_F.c.round_key),
        conn,
    )
    return [k for k in wanted if assigned.get(k, 0) and published.get(k, 0) >= assigned[k]]


def _per_round(query: sa.Select[Any], conn: Connection) -> dict[str, int]:
    return {str(row[0]): int(row[1]) for row in conn.execute(query)}


def close_finished_rounds(engine: Engine) -> list[str]:
    """Mark drawn rounds closed once every result is final and published; returns their keys."""
    with engine.connect() as conn:
        keys = _may_be_finished(conn, _open_rounds(conn))
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
