"""``shuangsui leads import FILE``: a CSV (UTF-8 or GB18030) or XLSX of leads, all or nothing.

Every row is validated first; any bad row rejects the whole file with ``FILE:ROW: field:
reason`` lines and nothing is written. A row cut short of the header, or with a cell past it
(the rest of an allegation after an unquoted comma, which was dropped unsaid), is refused as
the registry's import refuses it. A row's ``external_ref`` (编号) already recorded, or
repeated in the file, is an error: an import never records a lead twice. A row without one is
the lead its cells say (:func:`_same`): one the same as an earlier row of the file, or as a
lead recorded without a 编号 (the same file imported again, or twice at once: the second,
after the intake lock, finds the first's), is refused naming that row or lead; each of them
had been recorded again, each to be triaged and counted twice. Two reports alike in every cell
are told apart by their 编号.

A lead of an enterprise the registry does not hold is recorded all the same (a lead may come
before the registry import that takes its enterprise in; docs/leads.md), and the import says
which (:class:`Unregistered`), as ``POST /leads`` answers ``in_registry: false``: no round can
target it until the registry holds the enterprise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from findings import dates
from leads import events, service
from leads.models import Lead
from leads.schemas import LeadIn, LeadsSettings
from leads.service import Recorded
from registry.io import header_fields, inspect_source, named_width, part_bound, read_rows
from registry.models import Enterprise
from registry.validate import CellError, parse_date
from rounds import audit
from shuangsui import db
from shuangsui.collector import collector_paused
from shuangsui.errors import ImportRejected, RowProblem, UserError

logger = logging.getLogger(__name__)

COLUMNS = {
    "source": ("来源", "线索来源"),
    "credit_code": ("统一社会信用代码", "信用代码"),
    "category": ("线索类别", "类别", "allegation_category"),
    "received_on": ("收到日期", "受理日期", "received"),
    "deadline": ("办结期限", "期限"),
    "confidential": ("保密",),
    "reporter": ("举报人", "reporter_identity"),
    "allegation": ("线索内容", "内容"),
    "external_ref": ("编号", "ref"),
}
REQUIRED = ("source", "credit_code", "category", "received_on")
DATES = ("received_on", "deadline")
LOOKUP = 10_000  # credit codes looked up in the registry per query
_TRUE, _FALSE = {"true", "1", "yes", "y", "是"}, {"false", "0", "no", "n", "否"}


@dataclass(frozen=True)
class Unregistered:
    """A lead recorded from ``file:row`` whose enterprise the registry does not hold."""

    file: str
    row: int
    lead_id: int
    credit_code: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}: lead {self.lead_id}: " + service.not_in_registry(
            self.credit_code
        )


@dataclass(frozen=True)
class Imported:
    """The leads recorded, in the file's order, and those of them the registry does not hold."""

    ids: list[int]
    unregistered: list[Unregistered]


def _header(file: str, cells: list[str]) -> tuple[list[str | None], list[RowProblem]]:
    return header_fields(file, cells, COLUMNS, REQUIRED)


def _lead(cells: dict[str, str], context: dict[str, object]) -> LeadIn:
    data: dict[str, object] = {k: v.strip() for k, v in cells.items() if v.strip()}
    for name in DATES:
        if name in data:
            try:
                data[name] = parse_date(str(data[name]))
            except CellError as exc:
                raise CellError(f"{name}: {exc}") from None
    if "confidential" in data:
        flag = str(data["confidential"]).lower()
        if flag not in _TRUE | _FALSE:
            raise CellError("confidential: write 是 or 否 (true or false)")
        data["confidential"] = flag in _TRUE
    return LeadIn.model_validate(data, context=context)


@collector_paused()  # a bulk step, as a registry import: its rows and events hold no cycle
def import_leads(engine: Engine, path: Path, *, imported_by: str) -> Imported:
    """Validate every row, then record every lead in one transaction."""
    src = inspect_source(path)
    name = str(path)
    rows = read_rows(src, max_part_bytes=part_bound(src))
    head = next(rows, None)
    if head is None:
        raise ImportRejected([RowProblem(name, 1, "header", "empty file: no header row")])
    fields, problems = _header(name, head[1])
    if problems:
        raise ImportRejected(problems)
    first = next(rows, None)
    if first is None:
        raise UserError(f"{name}: no data rows below the header")
    parsed: list[tuple[int, LeadIn]] = []
    refs: dict[str, int] = {}
    alike: dict[tuple[Any, ...], int] = {}  # a lead without 编号 by its cells: its row
    width = named_width(fields)
    days = LeadsSettings().leads_deadline_days  # read once for the file: a millisecond a read
    context: dict[str, object] = {"deadline_days": days}
    for number, raw in chain([first], rows):
        if len(raw) < width:  # cut short: a missing cell is not an empty one
            problems.append(
                RowProblem(name, number, "row", f"{len(raw)} cells, the header has {width}")
            )
            continue
        if outside := [i for i in range(len(fields), len(raw)) if raw[i].strip()]:
            # the rest of a cell after an unquoted comma, say: refused, not dropped
            problems += [
                RowProblem(name, number, f"column {i + 1}", "cell outside the header")
                for i in outside
            ]
            continue
        cells = {f: raw[i] for i, f in enumerate(fields) if f}
        missing = [f for f in REQUIRED if not cells.get(f, "").strip()]
        if missing:
            problems += [RowProblem(name, number, f, "required") for f in missing]
            continue
        try:
            lead = _lead(cells, context)
        except CellError as exc:
            field, _, reason = str(exc).partition(": ")
            problems.append(RowProblem(name, number, field, reason))
            continue
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_context=False):
                field = ".".join(str(p) for p in err["loc"])
                reason = str(err["msg"]).removeprefix("Value error, ")
                if not field:  # a rule across fields names its field in its message
                    field, _, reason = reason.partition(": ")
                problems.append(RowProblem(name, number, field, reason))
            continue
        if lead.external_ref:
            if lead.external_ref in refs:
                problems.append(RowProblem(name, number, "external_ref",
                    f"{lead.external_ref} is also on row {refs[lead.external_ref]}"))  # fmt: skip
                continue
            refs[lead.external_ref] = number
        elif (earlier := alike.setdefault(_same(lead.model_dump()), number)) != number:
            problems.append(RowProblem(name, number, "row", f"the same lead as row {earlier} "
                                       f"(every cell the same){TELL_APART}"))  # fmt: skip
            continue
        parsed.append((number, lead))
    at = service.now()
    today = dates.today(at)  # once for the file: its rows' future is the same
    with Session(engine, expire_on_commit=False) as session:
        service.lock_intake(session)  # once for the file: ids committed in order
        held = _present(session, col(Lead.external_ref), refs)
        recorded = _recorded_alike(session, {key[1] for key in alike})
        by = f"import:{imported_by}"
        values: list[dict[str, Any]] = []  # each lead's columns
        numbers: list[int] = []  # each one's row
        for number, data in parsed:
            if data.external_ref in held:
                problems.append(RowProblem(name, number, "external_ref",
                                           f"{data.external_ref} is already recorded"))  # fmt: skip
                continue
            try:
                row = service.new_row(data, by=by, at=at, today=today)
            except UserError as exc:
                field, _, reason = str(exc).partition(": ")
                problems.append(RowProblem(name, number, field, reason))
                continue
            if not data.external_ref and (lead_id := recorded.get(_same(row))):
                problems.append(RowProblem(name, number, "row", f"the same lead as lead "
                                           f"{lead_id}, already recorded{TELL_APART}"))  # fmt: skip
                continue
            values.append(row)
            numbers.append(number)
        if problems:
            problems.sort(key=lambda p: p.row)
            raise ImportRejected(problems)
        try:  # an insert or an audit append may meet a concurrent writer's
            made = _insert(session, values)
            ids = [lead.id for lead in made]
            received = [service.received_event(lead) for lead in made]
            imported = events.LeadsImported(name, src.sha256, ids, imported_by)
            audit.add_many(session, None, [*received, imported])
            unregistered = _unregistered(session, name, zip(numbers, made, strict=True))
            session.commit()
        except IntegrityError:
            session.rollback()
            raise UserError(
                f"{name}: another import or intake ran at the same time; import the file again"
            ) from None
    logger.info("imported %d lead(s) from %s (%d not in the registry)", len(ids), name,
                len(unregistered))  # fmt: skip
    return Imported(ids, unregistered)


# what makes a lead without 编号 the same as another: every cell of it (the deadline as worked
# out, so a file that leaves it empty is the same as one giving the default)
SAME = ("source", "credit_code", "category", "received_on", "deadline", "confidential",
        "reporter", "allegation")  # fmt: skip
TELL_APART = "; if they are two reports, give each its own 编号 (external_ref)"


def _same(lead: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(lead[name] for name in SAME)


def _recorded_alike(session: Session, codes: set[str]) -> dict[tuple[Any, ...], int]:
    """The leads recorded without 编号 for ``codes``, by their cells (:func:`_same`): the
    first id of each, looked up :data:`LOOKUP` codes at a time."""
    table = Lead.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in SAME]
    ordered = sorted(codes)
    found: dict[tuple[Any, ...], int] = {}
    for i in range(0, len(ordered), LOOKUP):
        part = ordered[i : i + LOOKUP]
        query = (
            sa.select(table.c.id, *columns)
            .where(table.c.external_ref.is_(None), db.one_of(session, table.c.credit_code, part))
            .order_by(table.c.id)
        )
        for lead_id, *cells in session.connection().execute(query):
            found.setdefault(tuple(cells), lead_id)
    return found


def _insert(session: Session, values: list[dict[str, Any]]) -> list[Recorded]:
    """Insert the leads, with no ``Lead`` built a row (``db.insert_returning_ids``), and return
    them, in the file's order, as their events and the registry's check read them: each one's
    id and the columns it was inserted with (``service.received_event``)."""
    table = Lead.__table__  # type: ignore[attr-defined]
    ids = db.insert_returning_ids(session.connection(), table, values)
    return [
        Recorded(lead_id, row["source"], row["credit_code"], row["category"], row["deadline"],
                 row["created_by"])
        for lead_id, row in zip(ids, values, strict=True)
    ]  # fmt: skip


def _unregistered(
    session: Session, name: str, recorded: Iterable[tuple[int, Recorded]]
) -> list[Unregistered]:
    """The leads (with their row numbers) whose enterprise the registry does not hold."""
    by_row = list(recorded)
    known = _present(session, col(Enterprise.credit_code), {lead.credit_code for _, lead in by_row})
    return [
        Unregistered(name, row, lead.id, lead.credit_code)
        for row, lead in by_row
        if lead.credit_code not in known
    ]


def _present(session: Session, column: Any, values: Iterable[str]) -> set[str]:
    """Those of ``values`` that ``column`` holds, looked up :data:`LOOKUP` at a time: a query
    takes at most 32,766 values on SQLite as built by default, 65,535 on PostgreSQL, and a file
    may hold more leads. ``db.one_of``: one array on PostgreSQL, where psycopg turned each
    ten-thousand-value ``IN`` into its own placeholders in Python (a second at 50,000 leads)."""
    ordered = sorted(values)
    found: set[str] = set()
    for i in range(0, len(ordered), LOOKUP):
        part = ordered[i : i + LOOKUP]
        found.update(session.exec(select(column).where(db.one_of(session, column, part))).all())
    return found
