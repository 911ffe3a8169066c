"""Read every input of a classification in bulk (Core selects, no ORM object per row).

What each enterprise's inputs are (docs/risk.md §2): this bureau's final findings checked on
or before the date; partners' published results (监管互认) dated on or before it, corrected or
retracted ones replaced; the registry's two list flags and its certificates now suspended or
withdrawn; upheld complaints within the rules' window, as a count and a salted commitment; the
date of the last check, ours or a partner's, that found no problem. Inputs are sparse: a key
is present only when it says something.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from draw.canonical import canonical_json
from exchange.models import PartnerEntry
from findings.records import load_results
from registry.models import Certificate, Enterprise
from risk.models import RiskComplaint

_E = Enterprise.__table__  # type: ignore[attr-defined]
_C = Certificate.__table__  # type: ignore[attr-defined]
_PE = PartnerEntry.__table__  # type: ignore[attr-defined]
_RC = RiskComplaint.__table__  # type: ignore[attr-defined]

CLEAN = "no_problem"
RESULT_KINDS = ("result", "correction")


def complaint_commitment(salt: str, credit_code: str, refs: list[str]) -> str:
    """SHA-256 hex of ``salt || credit_code || LF || canonical JSON of the sorted refs``: the
    bureau can later open it to an auditor (salt and refs) without publishing the refs."""
    data = bytes.fromhex(salt) + credit_code.encode() + b"\n" + canonical_json(sorted(refs))
    return hashlib.sha256(data).hexdigest()


def _ours(conn: Connection, as_of: dt.date, sparse: dict[str, dict[str, Any]]) -> None:
    for rec in load_results(conn):
        pub = rec.public
        if pub is None or pub.check_date > as_of:
            continue
        day = pub.check_date.isoformat()
        sparse[rec.credit_code].setdefault("findings", []).append([str(pub.result), day])
        if str(pub.result) == CLEAN:
            _clean(sparse[rec.credit_code], day)


def _clean(inputs: dict[str, Any], day: str) -> None:
    if day > inputs.get("last_clean_check", ""):
        inputs["last_clean_check"] = day


def _partners(conn: Connection, as_of: dt.date, sparse: dict[str, dict[str, Any]]) -> None:
    gone = {
        (p, s)
        for p, s in conn.execute(
            sa.select(_PE.c.partner_code, _PE.c.supersedes).where(_PE.c.supersedes.is_not(None))
        )
    }
    q = sa.select(_PE.c.partner_code, _PE.c.entry_id, _PE.c.credit_code, _PE.c.event_date,
                  _PE.c.body).where(_PE.c.kind.in_(RESULT_KINDS), _PE.c.event_date <= as_of,
                                    _PE.c.credit_code.is_not(None))  # fmt: skip
    for partner, entry_id, code, day, body in conn.execute(q):
        if (partner, entry_id) in gone:
            continue
        outcome = json.loads(body)["body"].get("outcome")
        if not isinstance(outcome, str):
            continue
        iso = day.isoformat()
        sparse[code].setdefault("partner_results", []).append([partner, outcome, iso])
        if outcome == CLEAN:
            _clean(sparse[code], iso)


def _certificates(conn: Connection, sparse: dict[str, dict[str, Any]]) -> None:
    q = (
        sa.select(_C.c.credit_code, _C.c.status, sa.func.count())
        .where(_C.c.status.in_(["suspended", "withdrawn"]))
        .group_by(_C.c.credit_code, _C.c.status)
    )
    for code, status, n in conn.execute(q):
        sparse[code].setdefault("certificates", {})[str(status)] = int(n)


def _complaints(
    conn: Connection, as_of: dt.date, within_days: int, salt: str,
    sparse: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    since = as_of - dt.timedelta(days=within_days)
    refs: dict[str, list[str]] = defaultdict(list)
    q = sa.select(_RC.c.credit_code, _RC.c.ref).where(
        _RC.c.upheld_on >= since, _RC.c.upheld_on <= as_of
    )
    for code, ref in conn.execute(q):
        refs[code].append(ref)
    for code, items in refs.items():
        sparse[code]["complaints"] = {
            "count": len(items),
            "commitment": complaint_commitment(salt, code, items),
        }


def gather(
    conn: Connection, *, as_of: dt.date, complaint_days: int, salt: str
) -> Iterator[tuple[str, dict[str, Any] | None, bool, bool]]:
    """(credit_code, sparse inputs or None, abnormal_listed, serious_violation) of every active
    enterprise, in credit-code order. List entries are sorted, so equal inputs are equal bytes."""
    sparse: dict[str, dict[str, Any]] = defaultdict(dict)
    _ours(conn, as_of, sparse)
    _partners(conn, as_of, sparse)
    _certificates(conn, sparse)
    _complaints(conn, as_of, complaint_days, salt, sparse)
    for inputs in sparse.values():
        for key in ("findings", "partner_results"):
            if key in inputs:
                inputs[key].sort()
    q = (
        sa.select(_E.c.credit_code, _E.c.abnormal_listed, _E.c.serious_violation)
        .where(_E.c.status == "active")
        .order_by(_E.c.credit_code)
    )
    result = conn.execution_options(yield_per=50_000).execute(q)
    for code, abnormal, serious in result:
        yield code, sparse.get(code), bool(abnormal), bool(serious)
