"""Read the registry as it stands into the plain rows the pure draw takes.

Only natural keys and the attributes the rules use leave the database; the result does not
depend on row order (the draw sorts everything by natural key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy import Executable, select
from sqlalchemy.engine import Connection
from sqlmodel import col

from draw.frame import EnterpriseRow
from registry.models import Certificate, Conflict, Enterprise, Inspector
from rounds.models import Assignment, Round, RoundStatus, Selection

# Where the class in force comes from when the registry's column is not the last word: each
# source maps credit_code -> class at this moment (risk/hooks.py registers the classification);
# an enterprise no source names keeps the registry's class.
RiskClasses = Callable[[Connection], Mapping[str, str]]
risk_class_sources: list[RiskClasses] = []


def plain_rows(conn: Connection, query: Executable, batch: int = 50_000) -> Iterator[Any]:
    """The rows of a Core query as the DBAPI hands them over: plain tuples, fetched in
    batches, with no per-row result processing (a million rows through SQLAlchemy's result
    machinery cost about as much again as the query). Only for columns whose stored value is
    what the caller wants: text, integers, enumerations (stored as their value) and booleans
    (0/1 on SQLite: the caller applies ``bool``)."""
    result = conn.execute(query)
    cursor = result.cursor
    try:
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        result.close()


def enterprise_rows(conn: Connection, plan: Mapping[str, Any]) -> list[EnterpriseRow]:
    """Enterprises holding at least one certificate of a kind the plan covers, with those
    certificates; the population filter itself is the draw's (``draw.frame``).

    A frame can hold millions of rows and its memory should grow by little more than a credit
    code per row: the values that repeat (divisions, classes, industries, the few kind/status
    pairs and the few hundred combinations of them an enterprise holds) are held once each,
    and every row points at that one copy."""
    kinds = list(plan["population"]["cert_kinds"])
    one: dict[Any, Any] = {}  # a repeating value -> its one copy

    def shared(value: Any) -> Any:
        return one.setdefault(value, value)

    held: dict[str, tuple[tuple[str, str], ...]] = {}  # code -> its certificates' pairs
    cert_q = select(
        col(Certificate.credit_code), col(Certificate.kind), col(Certificate.status)
    ).where(col(Certificate.kind).in_(kinds))
    for code, kind, status in plain_rows(conn, cert_q):
        held[code] = shared(held.get(code, ()) + (shared((str(kind), str(status))),))
    ent_q = select(
        col(Enterprise.credit_code),
        col(Enterprise.division_code),
        col(Enterprise.risk_class),
        col(Enterprise.industry),
        col(Enterprise.abnormal_listed),
        col(Enterprise.serious_violation),
    ).where(col(Enterprise.status) == "active")
    classes: dict[str, str] = {}
    for source in risk_class_sources:
        classes.update(source(conn))
    rows = []
    for code, division, risk, industry, abnormal, serious in plain_rows(conn, ent_q):
        certs = held.pop(code, None)  # (its key's memory goes to the rows as they are made)
        if certs is not None:
            rows.append(
                EnterpriseRow(
                    code,
                    shared(division),
                    shared(classes.get(code) or risk),
                    shared(industry),
                    bool(abnormal),
                    bool(serious),
                    certs,
                )
            )
    return rows


def inspector_rows(conn: Connection) -> list[dict[str, Any]]:
    out = []
    for ins in conn.execute(select(Inspector)).mappings():
        out.append(
            {
                "inspector_id": ins["inspector_id"],
                "division_code": ins["division_code"],
                "expertise": sorted(ins["expertise"] or []),
                "unit": ins["unit"],
                "active": str(ins["status"]) == "active",
                "credential_from": ins["credential_valid_from"].isoformat(),
                "credential_until": ins["credential_valid_until"].isoformat(),
                "leaves": [list(p) for p in ins["leave"] or []],
            }
        )
    return out


def conflict_pairs(conn: Connection, credit_codes: set[str]) -> frozenset[tuple[str, str]]:
    pairs = conn.execute(select(col(Conflict.inspector_id), col(Conflict.credit_code)))
    return frozenset((i, c) for i, c in pairs if c in credit_codes)


def _months_before(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = [31, 29 if y % 4 == 0 and (y % 100 or y % 400 == 0) else 28, 31, 30, 31, 30, 31, 31,
            30, 31, 30, 31][m]  # fmt: skip
    return dt.date(y, m + 1, min(day.day, last))


def recent_inspections(
    conn: Connection, *, check_item: str, window_start: dt.date, months: int
) -> dict[str, str]:
    """Enterprises drawn for the same check item in rounds whose check window ended within
    ``months`` before ``window_start``: credit_code -> citation."""
    if months <= 0:
        return {}
    since = _months_before(window_start, months)
    q = (
        select(col(Selection.credit_code), col(Round.round_key), col(Round.window_end))
        .join(Round, col(Round.round_key) == col(Selection.round_key))
        .where(
            col(Round.check_item_code) == check_item,
            col(Round.status).in_([RoundStatus.drawn, RoundStatus.closed]),
            col(Round.window_end) >= since,
        )
        .order_by(col(Round.window_end), col(Round.round_key))
    )
    cited: dict[str, str] = {}
    for code, key, end in conn.execute(q):
        cited[code] = f"本局 {key} 已检查 (窗口截至 {end.isoformat()})"
    from exchange.recognition import partner_inspections  # 监管互认: partners' published results

    for code, citation in partner_inspections(conn, check_item=check_item, since=since).items():
        cited.setdefault(code, citation)
    return cited


def recent_pairs(conn: Connection, rounds: int) -> frozenset[tuple[str, str]]:
    """(inspector_id, credit_code) of the teams of the last ``rounds`` drawn rounds."""
    if rounds <= 0:
        return frozenset()
    keys = [
        k
        for (k,) in conn.execute(
            select(col(Round.round_key))
            .where(col(Round.status).in_([RoundStatus.drawn, RoundStatus.closed]))
            .order_by(col(Round.drawn_at).desc(), col(Round.round_key))
            .limit(rounds)
        )
    ]
    if not keys:
        return frozenset()
    q = select(col(Assignment.inspector_id), col(Assignment.credit_code)).where(
        col(Assignment.round_key).in_(keys)
    )
    return frozenset((i, c) for i, c in conn.execute(q))
