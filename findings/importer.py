"""Import findings from CSV or XLSX, the registries' way: every bad row listed as
``FILE:ROW: field: reason``, nothing written unless every row is good.

Reading (encoding detection, XLSX cells, row numbers) and date parsing are the registry's;
the content of a row is validated by :class:`findings.schemas.FindingIn`, like the API's. An
XLSX formula is refused, never read (:func:`_formula_problem`); 下载时版本, when the file has the
column, holds each row to the version its template was made at (:func:`import_file`). The
file's ``FindingsImported`` audit event lists every version it added, with its content hash,
reason and signers, for ``shuangsui findings verify`` (:mod:`findings.integrity`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from findings import service
from findings.categories import (
    ACTION_LABELS,
    MEASURE_LABELS,
    RESULT_LABELS,
    CertificateAction,
    MeasureKind,
    ResultCategory,
    parse_label,
)
from findings.dates import date_problems
from findings.events import FindingsImported, ImportedVersion
from findings.schemas import FindingIn, first_error
from registry import uscc
from registry.io import (
    FORMULA_SHOWN,
    Row,
    header_fields,
    inspect_source,
    named_width,
    read_cells,
)
from registry.models import Inspector, InspectorStatus
from registry.validate import LIST_SEPARATORS, CellError, parse_date
from rounds import audit, turns
from rounds.models import Assignment, Round
from shuangsui import writes
from shuangsui.errors import Conflict, ImportRejected, NotFound, RowProblem, UserError

logger = logging.getLogger(__name__)

COLUMNS: dict[str, tuple[str, ...]] = {
    "round_key": ("轮次", "round"),
    "credit_code": ("统一社会信用代码", "信用代码"),
    # for the person filling the file in (the round's template writes them); never read
    "enterprise_name": ("企业名称",),
    "team": ("检查组",),
    "result": ("检查结果", "结果"),
    "check_date": ("检查日期",),
    "description": ("情况说明", "说明"),
    "certificates": ("涉及证书", "证书"),
    "measures": ("处理措施", "措施"),
    "internal_note": ("内部备注",),
    "reason": ("原因", "更正原因"),  # a correction's, or why a check date is off the window
    "signed_by": ("签字人员", "签字"),
    # the enterprise's latest version when the round's template was made (0: none): a row is
    # refused when the finding has moved on since (an inspector's version meanwhile), rather
    # than recorded as a correction of a version its writer never saw. A file without the
    # column is not checked; in a file with it, a row that records something must fill it
    "base_version": ("下载时版本", "基于版本"),
}
REQUIRED = ("round_key", "credit_code", "result", "check_date", "signed_by")
KEYS = ("round_key", "credit_code")
REFERENCE = ("enterprise_name", "team")
WRITTEN_BY_THE_TEMPLATE = (*KEYS, *REFERENCE, "base_version")  # a row with only these: unfilled
# a signer written as the round's template shows a team member: 沈宁浩（FJ00227）
SIGNER_WITH_ID = re.compile(r"(.*?)[（(]\s*([^()（）\s]+)\s*[)）]")
# blank rows a file given ``max_rows`` may hold besides its header and data rows: a sheet's
# rows past them are refused unread (registry.io.read_cells), however few bytes name them
BLANK_ROWS = 10_000
# what an XLSX part (the sheet, its shared strings) may unpack to, by the rows the file may
# hold (``max_rows``): a data row at every field's limit (情况说明 and 内部备注 4,000 characters
# each, 原因 1,000, 50 certificates, 20 measures with their text) is about 66 KB of UTF-8 in
# Chinese; a blank row, formatted, a few hundred bytes; the header and the workbook's own
# parts (styles, theme) less than a megabyte. openpyxl holds the shared strings whole, about
# ten times their size in memory: this keeps a round's upload to tens of megabytes
ROW_BYTES = 96 * 1024
BLANK_ROW_BYTES = 512
OVERHEAD_BYTES = 1024 * 1024
BLANK_VERSION = (
    "blank in a file with this column: copy it from the round's template as it is "
    "(0 for an enterprise with no version yet)"
)


def part_limit(max_rows: int) -> int:
    """The most an XLSX part of a file of ``max_rows`` data rows may unpack to."""
    return OVERHEAD_BYTES + max_rows * ROW_BYTES + BLANK_ROWS * BLANK_ROW_BYTES


def _formula_problem(file: str, row: int, field: str, formula: str) -> RowProblem:
    """A formula where the import reads a value: refused, not read. The file is read once, with
    its formulas (``registry.io.read_cells``): a formula's saved result is not always there (a
    formula a program wrote, openpyxl's ``=1+1``, has none and reads as blank), and blank in
    下载时版本 once meant "not checked"."""
    shown = formula if len(formula) <= FORMULA_SHOWN else formula[:FORMULA_SHOWN] + "…"
    reason = f"a formula ({shown}): type the value itself; a formula's result is not read"
    return RowProblem(file, row, field, reason)


def _in_columns_read(rows: Iterator[Row], named: Mapping[int, str]) -> Iterator[Row]:
    """The rows below the header, each with its formulas in a column the import reads (one
    elsewhere is not read, like its column); a row left with neither a cell nor such a formula
    is blank, and not given."""
    for number, cells, formulas in rows:
        formulas = {i: f for i, f in formulas.items() if i in named}
        if formulas or "".join(cells).strip():
            yield number, cells, formulas


def _header(file: str, cells: list[str]) -> tuple[list[str | None], list[RowProblem]]:
    return header_fields(file, cells, COLUMNS, REQUIRED)


def _list(text: str) -> list[str]:
    return [p.strip() for p in LIST_SEPARATORS.split(text) if p.strip()]


def _certificates(text: str) -> list[dict[str, str]]:
    """``CQC:2026010000000001=suspended; CQC:…=保持``."""
    out = []
    for part in _list(text):
        ref, sep, action = part.partition("=")
        body, colon, number = ref.partition(":")
        if not (sep and colon):
            raise CellError(f"write a certificate as BODY:NUMBER=ACTION, not {part!r}")
        act = parse_label(action, CertificateAction, ACTION_LABELS)
        out.append({"body": body.strip(), "number": number.strip(), "action": act.value})
    return out


def _measures(text: str) -> list[dict[str, Any]]:
    """``rectify@2027-01-15; rectify_now`` (labels accepted: 责令限期改正@2027-01-15)."""
    out = []
    for part in _list(text):
        kind, _, deadline = part.partition("@")
        m = parse_label(kind, MeasureKind, MEASURE_LABELS)
        out.append(
            {"kind": m.value, "deadline": parse_date(deadline.strip()) if deadline else None}
        )
    return out


def _cell(name: str, parse: Callable[[str], Any], text: str) -> Any:
    """``parse(text)``; a cell it refuses is a CellError naming the column: ``name: why``."""
    try:
        return parse(text)
    except (CellError, ValueError) as exc:
        raise CellError(f"{name}: {exc}") from None


def _moved_on(exc: UserError, base: int, names: dict[str, str]) -> str:
    """A row whose finding is no longer at the version its template was made at; who moved it
    on by name (an inspector as the 检查组 column says them, or the coordinator)."""
    latest = getattr(exc, "details", {}).get("latest_version")
    if not latest:  # the template says a version there is none of
        return f"version {base} when the template was made, none now: download it again"
    role, _, who = str(latest["submitted_by"]).partition(":")
    by = f"{names.get(who, who)}（{who}）" if role == "inspector" else f"{role} {who}"
    return (
        f"version {base} when the template was made, version {latest['version']} now, "
        f"submitted by {by} at {latest['submitted_at']}: download the template again and "
        "fill this row in from it"
    )


def _listed(r: _Row, number: int, content_hash: str, signers: list[str]) -> ImportedVersion:
    """A version added, as the import's audit event lists it (signers as the version's
    sign-offs hold them: each once)."""
    return ImportedVersion(
        r.round_key, r.credit_code, number, content_hash, r.finding.reason, sorted(set(signers))
    )


def _version_number(text: str) -> int | None:
    """A version number as the round's template writes it (0: none yet); blank: None."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise CellError(f"not a version number: {text!r} (the template's own, left as it is)")
    return int(text)


def parse_row(cells: dict[str, str]) -> tuple[FindingIn, list[str]]:
    """A validated finding and its signers; CellError (``field: why``) or ValidationError on
    bad content."""
    data: dict[str, Any] = {
        "result": _cell(
            "result",
            lambda t: parse_label(t, ResultCategory, RESULT_LABELS).value,
            cells.get("result", ""),
        ),
        "check_date": _cell("check_date", parse_date, cells.get("check_date", "").strip()),
        "description": cells.get("description", "").strip(),
        "certificates": _cell("certificates", _certificates, cells.get("certificates", "")),
        "measures": _cell("measures", _measures, cells.get("measures", "")),
        "internal_note": cells.get("internal_note", "").strip(),
        "reason": cells.get("reason", "").strip(),
    }
    return FindingIn.model_validate(data), _list(cells.get("signed_by", ""))


@dataclass
class _Row:
    number: int
    round_key: str
    credit_code: str
    finding: FindingIn
    signers: list[str]
    base_version: int | None = None  # the template's (None: not checked)


def _teams(session: Session, round_keys: set[str]) -> dict[tuple[str, str], list[str]]:
    teams: dict[tuple[str, str], list[str]] = {}
    rows = session.execute(
        select(Assignment)
        .where(Assignment.round_key.in_(sorted(round_keys)))  # type: ignore[attr-defined]
        .order_by(Assignment.position)  # type: ignore[arg-type]
    ).scalars()
    for a in rows:
        teams.setdefault((a.round_key, a.credit_code), []).append(a.inspector_id)
    return teams


def _team_names(session: Session, teams: dict[tuple[str, str], list[str]]) -> dict[str, str]:
    ids = sorted({i for team in teams.values() for i in team})
    query = select(col(Inspector.inspector_id), col(Inspector.name))
    return {
        i: name for i, name in session.execute(query.where(col(Inspector.inspector_id).in_(ids)))
    }


def _inactive(session: Session, teams: dict[tuple[str, str], list[str]]) -> set[str]:
    """The team members marked inactive in the registry: they may no longer sign a finding,
    as their links may not (``api.inspector_tokens``)."""
    ids = sorted({i for team in teams.values() for i in team})
    query = select(col(Inspector.inspector_id)).where(
        col(Inspector.inspector_id).in_(ids), col(Inspector.status) != InspectorStatus.active
    )
    return set(session.execute(query).scalars())


def _unspaced(text: str) -> str:
    return "".join(text.split())


def signer_ids(
    signers: list[str], team: list[str], names: dict[str, str]
) -> tuple[list[str], list[str]]:
    """The team members ``signers`` name, and the problems of those named wrongly.

    A signer is named by id; or as the template shows them, name and id (沈宁浩（FJ00227）,
    or with ASCII brackets), the name that id's on the team, whitespace aside (another's name
    is a problem quoting the signer as written, never a signature by the id alone); or by a
    name only one member of this team has. Anything else is kept as written, for the team
    check to refuse by what it says."""
    out: list[str] = []
    problems: list[str] = []
    for signer in signers:
        shown = SIGNER_WITH_ID.fullmatch(signer)
        if signer not in team and shown and shown.group(2) in team:
            written, member = shown.group(1).strip(), shown.group(2)
            if written and _unspaced(written) != _unspaced(names.get(member, "")):
                problems.append(f"{signer}: {member} is {names.get(member, '')}, not {written}")
            signer = member
        if signer not in team:
            named = [i for i in team if names.get(i) == signer]
            signer = named[0] if len(named) == 1 else signer
        out.append(signer)
    return out, problems


@dataclass(frozen=True)
class Imported:
    """What an import did: versions written, rows whose finding was already recorded as the
    file has it (a file imported again writes nothing), and rows left unfilled (only their
    round and credit code, as the round's template gives every row)."""

    new: int
    recorded: int
    unfilled: int = 0


def import_findings(engine: Engine, path: Path, *, imported_by: str) -> int:
    """Validate every row, then write every version in one transaction; the number written."""
    return import_file(engine, path, imported_by=imported_by).new


def _unknown_code(round_key: str, code: str) -> str:
    """Why a row's enterprise has no team in its round: a code that cannot be one, or one
    that was not drawn."""
    return uscc.problem(code, uscc.load_whitelist()) or f"{code} was not drawn in round {round_key}"


def import_file(
    engine: Engine,
    path: Path,
    *,
    imported_by: str,
    name: str = "",
    only_round: str = "",
    max_rows: int | None = None,
    allowed: Callable[[Session], None] | None = None,
) -> Imported:
    """Validate every row, then write every new version in one transaction.

    ``name``: the file as problems and the audit name it (default: ``path``; an upload's own
    name). ``only_round``: every row must be of this round. ``max_rows``: a file with more
    data rows is refused at the first one past it, before the rest is read, and so is one with
    a row, blank or not, past row ``1 + max_rows + BLANK_ROWS`` (or a sheet whose used range
    reaches past it, before a row is read), and an XLSX with a part that unpacks past
    :func:`part_limit` (before it is opened). ``allowed`` runs first in the writing transaction
    (``shuangsui.writes.write``'s): it raises to refuse.

    A formula cell in an XLSX is refused (:func:`_formula_problem`): in the header or above it
    wherever it is, below it in a column the import reads. In a file with 下载时版本, a row
    that records something must fill it in (a file without the column is not checked)."""
    src = inspect_source(path)
    name = name or str(path)
    last_row = None if max_rows is None else 1 + max_rows + BLANK_ROWS
    bound = None if max_rows is None else part_limit(max_rows)
    sheet = read_cells(src, last_row=last_row, max_part_bytes=bound)
    head = next(sheet, None)
    if head is None:
        raise ImportRejected([RowProblem(name, 1, "header", "empty file: no header row")])
    if head[2]:  # the header's, or a row of formulas alone above it (the first row given)
        raise ImportRejected(
            [_formula_problem(name, head[0], "header", f) for f in head[2].values()]
        )
    fields, problems = _header(name, head[1])
    if problems:
        raise ImportRejected(problems)
    checks_version = "base_version" in fields
    named = {i: field for i, field in enumerate(fields) if field}
    rows = _in_columns_read(sheet, named)
    first = next(rows, None)
    if first is None:
        raise UserError(f"{name}: no data rows below the header")
    rows = chain([first], rows)
    parsed: list[_Row] = []
    unfilled = 0
    seen: dict[tuple[str, str], int] = {}
    width = named_width(fields)
    read = [(i, f) for i, f in enumerate(fields) if f]  # a blank header's column is not read
    for count, (number, raw, formulas) in enumerate(rows, start=1):
        if max_rows is not None and count > max_rows:
            reason = f"more than {max_rows} data rows, one per drawn enterprise at most"
            raise ImportRejected([RowProblem(name, number, "rows", reason)])
        if formulas:  # blank as it reads, or not: what the formula computes is not read
            problems.extend(
                _formula_problem(name, number, named[i], f) for i, f in formulas.items()
            )
            continue
        if len(raw) < width:  # cut short: a missing cell is not an empty one
            problems.append(
                RowProblem(name, number, "row", f"{len(raw)} cells, the header has {width}")
            )
            continue
        if outside := [i for i in range(len(fields), len(raw)) if raw[i].strip()]:
            # the rest of a cell after an unquoted comma, a note beside the table: refused,
            # not dropped (as the registry's and the leads' imports refuse it)
            problems += [
                RowProblem(name, number, f"column {i + 1}", "cell outside the header")
                for i in outside
            ]
            continue
        cells = {f: raw[i] for i, f in read}
        if all(not v.strip() for f, v in cells.items() if f not in WRITTEN_BY_THE_TEMPLATE):
            unfilled += 1  # a row of the template nobody filled in: no finding to import
            continue
        key = (cells.get("round_key", "").strip(), cells.get("credit_code", "").strip().upper())
        row_problems = [
            RowProblem(name, number, f, "required")
            for f in REQUIRED
            if not cells.get(f, "").strip()
        ]
        if checks_version and not cells.get("base_version", "").strip():
            row_problems.append(RowProblem(name, number, "base_version", BLANK_VERSION))
        if row_problems:
            problems.extend(row_problems)
            continue
        if only_round and key[0] != only_round:
            reason = f"{key[0]} is not {only_round}, the round this file is imported into"
            problems.append(RowProblem(name, number, "round_key", reason))
            continue
        try:
            finding, signers = parse_row(cells)
            base = _cell("base_version", _version_number, cells.get("base_version", "").strip())
        except CellError as exc:
            field, _, reason = str(exc).partition(": ")
            problems.append(RowProblem(name, number, field, reason))
            continue
        except ValidationError as exc:
            problems.extend(RowProblem(name, number, f, r) for f, r in first_error(exc))
            continue
        if key in seen:
            problems.append(
                RowProblem(
                    name, number, "credit_code", f"{key[1]} in {key[0]} is also on row {seen[key]}"
                )
            )
            continue
        seen[key] = number
        parsed.append(_Row(number, key[0], key[1], finding, signers, base))
    parse_problems = problems  # of the cells alone: the database's are added to a copy
    submitted_by = f"coordinator:{imported_by}"

    def work(session: Session) -> int:
        """The rows recorded, or every problem the database shows (all rows or none): in a
        write transaction :func:`shuangsui.writes.write` runs again from the start when a
        concurrent writer collides with it anywhere (the finding's key, the audit log's head)."""
        problems = list(parse_problems)
        recorded: list[ImportedVersion] = []
        named = sorted({r.round_key for r in parsed})
        turns.take(session.connection())  # first, as service.hold_teams takes them
        stored = (  # held: a replacement waits (service.hold_teams)
            select(col(Round.round_key))
            .where(col(Round.round_key).in_(named))
            .with_for_update(read=True)
        )
        held = set(session.execute(stored).scalars())
        teams = _teams(session, held)
        names = _team_names(session, teams)
        inactive = _inactive(session, teams)
        for r in parsed:
            team = teams.get((r.round_key, r.credit_code))
            if r.round_key not in held:
                problems.append(RowProblem(name, r.number, "round_key", f"no round {r.round_key}"))
                continue
            if team is None:
                reason = _unknown_code(r.round_key, r.credit_code)
                problems.append(RowProblem(name, r.number, "credit_code", reason))
                continue
            signers, misnamed = signer_ids(r.signers, team, names)
            problems.extend(RowProblem(name, r.number, "signed_by", m) for m in misnamed)
            if strangers := [s for s in signers if s not in team]:
                reason = (
                    f"{', '.join(strangers)} is not on the team of {r.credit_code} in "
                    f"{r.round_key} (team: {', '.join(f'{names.get(i, i)}（{i}）' for i in team)})"
                )
                problems.append(RowProblem(name, r.number, "signed_by", reason))
            if retired := [s for s in signers if s in inactive]:
                reason = (
                    f"{', '.join(f'{names.get(i, i)}（{i}）' for i in retired)} is marked "
                    "inactive in the registry and may no longer sign a finding"
                )
                problems.append(RowProblem(name, r.number, "signed_by", reason))
            found = date_problems(session, r.round_key, r.credit_code, r.finding)
            found += service.reference_problems(session, r.round_key, r.credit_code, r.finding)
            for reason in found:
                field, _, text = reason.partition(": ")
                problems.append(RowProblem(name, r.number, field, text))
            if problems:
                continue
            try:
                version = service.add_version(
                    session,
                    round_key=r.round_key,
                    credit_code=r.credit_code,
                    data=r.finding,
                    submitted_by=submitted_by,
                    signers=signers,
                    via="import",
                    team=team,
                    base_version=r.base_version,
                )
                if version is not None:
                    recorded.append(_listed(r, version.version, version.content_hash, signers))
            except UserError as exc:
                field = "signed_by" if isinstance(exc, service.NotOnTeam) else "reason"
                if isinstance(exc, service.VersionCapReached):
                    field = "finding"
                reason = str(exc)
                if r.base_version is not None and isinstance(exc, Conflict | NotFound):
                    field, reason = "base_version", _moved_on(exc, r.base_version, names)
                problems.append(RowProblem(name, r.number, field, reason))
        if problems:
            problems.sort(key=lambda p: p.row)
            raise ImportRejected(problems)
        event = FindingsImported(
            name, src.sha256, len(recorded), imported_by, submitted_by, recorded
        )
        audit.add_to(session, None, event)
        return len(recorded)

    try:
        new = writes.write(engine, work, what=f"the import of {name}", allowed=allowed)
    except Conflict:  # collided every time: others keep writing these findings
        raise UserError(
            f"{name}: another import or submission ran at the same time; import the file again"
        ) from None
    logger.info("imported %d new finding version(s) from %s", new, name)
    return Imported(new, len(parsed) - new, unfilled)
