"""Formula injection: every CSV and XLSX the project writes neutralises OWASP's payloads, the
JSON and bundles keep names as they are, and import refuses invisible bidi/zero-width text."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.export import export_all, export_kind
from registry.importer import import_file, import_files
from registry.models import Enterprise
from registry.schema import KINDS
from rounds.bundle import run_verify_script
from shuangsui.db import session_scope
from shuangsui.errors import ImportRejected
from tests.findings.factories import ROUND, drawn_round, final_finding
from tests.registry.helpers import code, dump, enterprise_row, enterprises_file
from website.site import publish

PAYLOADS = ["=cmd|' /C calc'!A0", "+1+1", "-1+1", "@SUM(1)", "\t=1", "\r=1"]
REPO = Path(__file__).resolve().parents[2]


def _csv_cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _set_names(engine: sa.Engine, names: dict[str, str]) -> None:
    """What import would strip (a leading tab or CR) can still reach the table another way."""
    with engine.begin() as conn:
        for credit_code, name in names.items():
            conn.execute(
                sa.update(Enterprise.__table__)  # type: ignore[arg-type]
                .where(Enterprise.__table__.c.credit_code == credit_code)  # type: ignore[attr-defined]
                .values(name=name, address=name)
            )


def test_registry_export_neutralises_and_imports_back(engine: sa.Engine, tmp_path: Path) -> None:
    rows = [enterprise_row(n, name=p, address=p) for n, p in enumerate(PAYLOADS, start=1)]
    with session_scope(engine) as session:
        import_file(
            session=session, kind="enterprises", path=enterprises_file(tmp_path / "e.csv", rows)
        )
    with Session(engine) as s:
        stored = {e.credit_code: e.name for e in s.exec(select(Enterprise))}
    # import keeps the text as it is; it only trims surrounding whitespace (tab, CR)
    assert [stored[code(n)] for n in range(1, 7)] == PAYLOADS[:4] + ["=1", "=1"]
    _set_names(engine, {code(n): p for n, p in enumerate(PAYLOADS, start=1)})

    with session_scope(engine) as session:
        export_all(session=session, out_dir=tmp_path / "csv")
        export_kind(session=session, kind="enterprises", out=tmp_path / "e.xlsx")
    fields = KINDS["enterprises"].fields
    name_at, address_at = fields.index("name"), fields.index("address")
    cells = {r[0]: r for r in _csv_cells(tmp_path / "csv" / "enterprises.csv")[1:]}
    for n, p in enumerate(PAYLOADS, start=1):
        assert cells[code(n)][name_at] == "'" + p
        assert cells[code(n)][address_at] == "'" + p
    wb = openpyxl.load_workbook(tmp_path / "e.xlsx")
    try:
        sheet = {r[0].value: r for r in wb.worksheets[0].iter_rows(min_row=2)}
        for n, p in enumerate(PAYLOADS, start=1):
            cell = sheet[code(n)][name_at]  # XML reads a stored CR back as LF
            assert cell.data_type == "s" and cell.value == "'" + p.replace("\r", "\n")
    finally:
        wb.close()

    # an exported file imports back unchanged: the guard is undone at import
    before = dump(engine)
    exported = [(k, tmp_path / "csv" / f"{k}.csv") for k in KINDS]
    with session_scope(engine) as session:
        import_files(session=session, files=exported)
    assert dump(engine) == before


def test_open_data_csv_neutralised_json_and_bundle_raw(engine: sa.Engine, tmp_path: Path) -> None:
    teams = drawn_round(engine)
    codes = sorted(teams)
    names = {c: PAYLOADS[i % len(PAYLOADS)] for i, c in enumerate(codes)}
    _set_names(engine, names)
    for c in codes[:3]:
        final_finding(engine, c, teams[c])
    out = tmp_path / "site"
    publish(engine, out)

    name_at = 3  # CSV_COLUMNS: round_key, check_item, credit_code, enterprise_name
    for csv_path in (out / "data" / "results.csv", out / "data" / f"{ROUND}.csv"):
        rows = _csv_cells(csv_path)
        assert rows[0][name_at] == "enterprise_name"
        assert {r[2]: r[name_at] for r in rows[1:]} == {c: "'" + names[c] for c in codes}
        for row in rows[1:]:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (csv_path, cell)
    data = json.loads((out / "data" / f"{ROUND}.json").read_text("utf-8"))
    assert {r["credit_code"]: r["enterprise_name"] for r in data} == names
    verdict = run_verify_script(out / "rounds" / ROUND / "bundle")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_every_spreadsheet_writer_goes_through_the_guard() -> None:
    """A new CSV or XLSX writer must use shuangsui.spreadsheet, not csv/openpyxl directly."""
    writer = re.compile(r"csv\.writer\(|DictWriter\(|Workbook\(|xlsxwriter")
    offenders = []
    for path in REPO.glob("*/**/*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in {".venv", "tests", "bench"} or rel == Path("shuangsui/spreadsheet.py"):
            continue
        if writer.search(path.read_text("utf-8")):
            offenders.append(str(rel))
    assert offenders == []


@pytest.mark.parametrize(
    ("char", "field"),
    [
        ("\u202e", "name"),  # RIGHT-TO-LEFT OVERRIDE
        ("\u2066", "name"),  # LEFT-TO-RIGHT ISOLATE
        ("\u200f", "address"),  # RIGHT-TO-LEFT MARK
        ("\u061c", "name"),  # ARABIC LETTER MARK
        ("\u200b", "name"),  # ZERO WIDTH SPACE
        ("\u2060", "address"),  # WORD JOINER
        ("\ufeff", "name"),  # ZERO WIDTH NO-BREAK SPACE inside text
        ("\x00", "name"),  # NUL: PostgreSQL refused it with a traceback, SQLite kept it
        ("\x1b", "address"),  # ESCAPE: a terminal's commands in a printed name
        ("\x08", "name"),  # BACKSPACE
        ("\x7f", "address"),  # DELETE
    ],
)
def test_invisible_characters_are_refused_at_import(
    engine: sa.Engine, tmp_path: Path, char: str, field: str
) -> None:
    good = enterprises_file(tmp_path / "good.csv", [enterprise_row(1)])
    with session_scope(engine) as session:
        import_file(session=session, kind="enterprises", path=good)
    before = dump(engine)
    bad = enterprises_file(
        tmp_path / "bad.csv",
        [enterprise_row(2), enterprise_row(3, **{field: f"福州{char}某某科技有限公司"})],
    )
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_file(session=session, kind="enterprises", path=bad)
    assert dump(engine) == before, "a rejected file changes nothing"
    (line,) = [str(p) for p in info.value.problems]
    assert line.startswith(f"{bad}:3: {field}: contains the invisible character U+{ord(char):04X}")
