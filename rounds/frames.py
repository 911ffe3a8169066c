"""Read the registry as it stands into the plain rows the pure draw takes.

Only natural keys and the attributes the rules use leave the database; the result does not
depend on row order (the draw sorts everything by natural key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Container, Generator, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy import CursorResult, Select, event, select
from sqlalchemy.engine import Connection
from sqlmodel import col

from draw.frame import RowFields
from registry.models import Certificate, Conflict, Enterprise, Inspector
from rounds.models import Assignment, Round, RoundStatus, Selection


@dataclass(frozen=True)
class ClassesRead:
    """The classes in force one read found (credit_code -> class) and the audit events that
    name what they came from, which a round's commit records with the frame that read them."""

    classes: Mapping[str, str]
    events: tuple[object, ...] = ()


# Where the class in force comes from when the registry's column is not the last word: each
# source reads the classes at this moment (risk/hooks.py registers the classification); an
# enterprise no source names keeps the registry's class.
RiskClasses = Callable[[Connection], ClassesRead]
risk_class_sources: list[RiskClasses] = []


def classes_in_force(conn: Connection) -> ClassesRead:
    """What every source reads now, in turn (a later source's class wins), as one read."""
    classes: dict[str, str] = {}
    events: list[object] = []
    for source in risk_class_sources:
        read = source(conn)
        classes.update(read.classes)
        events.extend(read.events)
    return ClassesRead(classes, tuple(events))


class Rows(Protocol):
    """Rows to iterate once, and to close (``contextlib.closing``) when done or given up."""

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...


def plain_rows(conn: Connection, query: Select[*tuple[Any, ...]], batch: int = 50_000) -> Rows:
    """The rows of a Core query. Only for columns whose stored value is what the caller
    wants: text, integers, enumerations (stored as their value) and booleans (0/1 on SQLite:
    the caller applies ``bool``).

    On SQLite they come as the DBAPI hands them over, plain tuples with no per-row result
    processing (a million rows through SQLAlchemy's result machinery cost about as much again
    as the query): iterating them is iterating the DBAPI's cursor, which steps through the
    rows as they are read, with no Python step of ours per row (a generator handing them on
    cost 0.03 s of the 430,000 rows of a 200,000-enterprise frame). On PostgreSQL they
    come the same way, streamed by the driver a batch at a time (psycopg's ``stream``) instead
    of the whole result at once in the client's memory. The query is an ordinary one, which
    PostgreSQL plans for all its rows and may sort with parallel workers (a cursor declared on
    the server is planned for its first rows, never in parallel: 1.3x the wall time of a
    million-row read, and ten times a thousand-key look-up sorted by another column). A
    connection streams one result at a time, and psycopg holds the connection's lock between
    the rows: a statement on ``conn`` before the rows are read or the generator closed is
    refused (:class:`StreamInProgress`), where it would otherwise wait on that lock for
    ever."""
    if conn.dialect.name == "postgresql":
        return _streamed(conn, query, batch)
    return _Stepped(conn.execute(query))


def _streamed(
    conn: Connection, query: Select[*tuple[Any, ...]], batch: int
) -> Generator[Any, None, None]:
    """PostgreSQL's rows for :func:`plain_rows`, ``batch`` at a time from the driver."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    driver = conn.connection.driver_connection  # in the transaction conn has begun
    assert driver is not None
    event.listen(conn, "before_cursor_execute", _refuse_while_streaming)
    try:
        with driver.cursor() as cursor:
            yield from cursor.stream(str(compiled), compiled.params, size=batch)
    finally:  # (a connection closed meanwhile has dropped its listeners already)
        if event.contains(conn, "before_cursor_execute", _refuse_while_streaming):
            event.remove(conn, "before_cursor_execute", _refuse_while_streaming)


class _Stepped:
    """SQLite's rows for :func:`plain_rows`: the DBAPI cursor of ``result``, closed with it."""

    def __init__(self, result: CursorResult[Any]) -> None:
        self._result = result

    def __iter__(self) -> Iterator[Any]:
        return iter(self._result.cursor)  # type: ignore[call-overload]  # (sqlite3's: iterable)

    def close(self) -> None:
        self._result.close()


class StreamInProgress(RuntimeError):
    """A statement on a connection whose rows :func:`plain_rows` is still streaming."""


def _refuse_while_streaming(*_: Any) -> None:
    raise StreamInProgress(
        "a statement on a connection still streaming rows (plain_rows): read them or close "
        "the generator first"
    )


def enterprise_rows(
    conn: Connection, plan: Mapping[str, Any], classes: Mapping[str, str] | None = None
) -> Generator[RowFields, None, None]:
    """Enterprises holding at least one certificate of a kind the plan covers, with those
    certificates, in credit-code order, each as the fields of a ``draw.frame.EnterpriseRow``
    in a plain tuple, with the class ``classes`` gives over the registry's (what
    :func:`classes_in_force` read; read now when not given); the population filter itself is
    the draw's (``draw.frame``).

    A frame can hold ten million rows: the enterprises and their certificates are read in
    credit-code order and joined as they pass, so neither is held, and each row can go to the
    frame being built before the next is read (the frame holds each repeating value once).
    SQLite reads the two tables side by side; PostgreSQL, which streams one result at a time
    per connection, reads one query joining them (an enterprise's columns once per
    certificate)."""
    kinds = list(plan["population"]["cert_kinds"])
    by_code = code_order(conn)
    firm = (
        col(Enterprise.credit_code),
        col(Enterprise.division_code),
        col(Enterprise.risk_class),
        col(Enterprise.industry),
        col(Enterprise.abnormal_listed),
        col(Enterprise.serious_violation),
    )
    active = col(Enterprise.status) == "active"
    of_kinds = col(Certificate.kind).in_(kinds)
    if classes is None:
        classes = classes_in_force(conn).classes
    if conn.dialect.name == "postgresql":
        joined = (
            select(*firm, col(Certificate.kind), col(Certificate.status))
            .join(Certificate, col(Certificate.credit_code) == col(Enterprise.credit_code))
            .where(active, of_kinds)
            .order_by(by_code(Enterprise.credit_code))
        )
        with closing(plain_rows(conn, joined)) as rows:
            yield from _firms_joined(rows, classes)
        return
    cert_q = (
        select(col(Certificate.credit_code), col(Certificate.kind), col(Certificate.status))
        .where(of_kinds)
        .order_by(by_code(Certificate.credit_code))
    )
    ent_q = select(*firm).where(active).order_by(by_code(Enterprise.credit_code))
    with closing(plain_rows(conn, cert_q)) as cert_rows, closing(plain_rows(conn, ent_q)) as rows:
        held = _certificates_by_code(cert_rows)
        held_code, certs = next(held, (None, ()))
        last = None
        for code, division, risk, industry, abnormal, serious in rows:
            if last is not None and code <= last:
                raise RuntimeError(f"enterprise rows came out of credit-code order at {code!r}")
            last = code
            while held_code is not None and held_code < code:  # certificates of no active firm
                held_code, certs = next(held, (None, ()))
            if held_code == code:
                risk = classes.get(code) or risk
                yield code, division, risk, industry, bool(abnormal), bool(serious), certs


def _firms_joined(
    rows: Iterable[tuple[Any, ...]], classes: Mapping[str, str]
) -> Iterator[RowFields]:
    """Enterprise rows from (enterprise columns..., kind, status) rows in credit-code order,
    one row per certificate."""
    last, firm, pair = None, itemgetter(0, 1, 2, 3, 4, 5), itemgetter(6, 7)
    for (code, division, risk, industry, abnormal, serious), group in groupby(rows, key=firm):
        if last is not None and code <= last:
            raise RuntimeError(f"enterprise rows came out of credit-code order at {code!r}")
        last = code
        risk = classes.get(code) or risk
        certs = tuple(map(pair, group))
        yield code, division, risk, industry, bool(abnormal), bool(serious), certs


def _certificates_by_code(
    rows: Iterable[tuple[str, str, str]],
) -> Iterator[tuple[str, tuple[tuple[str, str], ...]]]:
    """(credit code, its (kind, status) pairs) from certificate rows in credit-code order
    (kinds and statuses as stored: their enumerations' values)."""
    last, pair = None, itemgetter(1, 2)
    for code, group in groupby(rows, key=itemgetter(0)):
        if last is not None and code <= last:
            raise RuntimeError(f"certificate rows came out of credit-code order at {code!r}")
        last = code
        yield code, tuple(map(pair, group))


def code_order(conn: Connection) -> Callable[[Any], Any]:
    """ORDER BY a credit code column in the order Python compares the codes (code point
    order). On SQLite the BINARY collation of ``code || ''``: an expression, so SQLite scans
    the table and sorts (its sorter holds a bounded amount and spills the rest to temporary
    files) instead of walking the code's index and fetching every row by its rowid, which cost
    2.5-4x the scan for a million rows. On PostgreSQL the "C" collation, whatever the
    database's own."""
    if conn.dialect.name == "postgresql":
        return lambda column: col(column).collate("C")
    return lambda column: col(column).concat("").collate("BINARY")


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


def conflict_pairs(
    conn: Connection, credit_codes: Container[str] | None = None
) -> frozenset[tuple[str, str]]:
    """Declared (inspector_id, credit_code) conflicts: of ``credit_codes``, or all of them."""
    pairs = conn.execute(select(col(Conflict.inspector_id), col(Conflict.credit_code)))
    return frozenset((i, c) for i, c in pairs if credit_codes is None or c in credit_codes)


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
