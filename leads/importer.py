"""``shuangsui leads import FILE``: a CSV (UTF-8 or GB18030) or XLSX of leads, all or nothing.

Every row is validated first; any bad row rejects the whole file with ``FILE:ROW: field:
reason`` lines and nothing is written. A row's ``external_ref`` (编号) already recorded, or
repeated in the file, is an error: an import never records a lead twice.
"""

from __future__ import annotations

import logging
from itertools import chain
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from leads import events, service
from leads.models import Lead
from leads.schemas import LeadIn
from registry.io import header_fields, inspect_source, named_width, part_bound, read_rows
from registry.validate import CellError, parse_date
from rounds import audit
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
_TRUE, _FALSE = {"true", "1", "yes", "y", "是"}, {"false", "0", "no", "n", "否"}


def _header(file: str, cells: list[str]) -> tuple[list[str | None], list[RowProblem]]:
    return header_fields(file, cells, COLUMNS, REQUIRED)


def _lead(cells: dict[str, str]) -> LeadIn:
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
    return LeadIn.model_validate(data)


def import_leads(engine: Engine, path: Path, *, imported_by: str) -> list[int]:
    """Validate every row, then record every lead in one transaction; their ids."""
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
    width = named_width(fields)
    for number, raw in chain([first], rows):
        if len(raw) < width:  # cut short: a missing cell is not an empty one
            problems.append(
                RowProblem(name, number, "row", f"{len(raw)} cells, the header has {width}")
            )
            continue
        cells = {f: raw[i] for i, f in enumerate(fields) if f}
        missing = [f for f in REQUIRED if not cells.get(f, "").strip()]
        if missing:
            problems += [RowProblem(name, number, f, "required") for f in missing]
            continue
        try:
            lead = _lead(cells)
        except CellError as exc:
            field, _, reason = str(exc).partition(": ")
            problems.append(RowProblem(name, number, field, reason))
            continue
        except ValidationError as exc:
            for err in exc.errors():
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
        parsed.append((number, lead))
    at = service.now()
    with Session(engine, expire_on_commit=False) as session:
        held = set(session.exec(
            select(col(Lead.external_ref)).where(col(Lead.external_ref).in_(sorted(refs)))
        ).all()) if refs else set()  # fmt: skip
        made = []
        for number, data in parsed:
            if data.external_ref in held:
                problems.append(RowProblem(name, number, "external_ref",
                                           f"{data.external_ref} is already recorded"))  # fmt: skip
                continue
            try:
                made.append(service.new_lead(data, by=f"import:{imported_by}", at=at))
            except UserError as exc:
                field, _, reason = str(exc).partition(": ")
                problems.append(RowProblem(name, number, field, reason))
        if problems:
            problems.sort(key=lambda p: p.row)
            raise ImportRejected(problems)
        session.add_all(made)
        try:  # an insert or an audit append may meet a concurrent writer's
            session.flush()
            for row in made:
                audit.add_to(session, None, service.received_event(row))
            ids = [row.id for row in made if row.id is not None]
            audit.add_to(session, None, events.LeadsImported(name, src.sha256, ids, imported_by))
            session.commit()
        except IntegrityError:
            session.rollback()
            raise UserError(
                f"{name}: another import or intake ran at the same time; import the file again"
            ) from None
    logger.info("imported %d lead(s) from %s", len(ids), name)
    return ids
