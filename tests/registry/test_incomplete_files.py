"""Registry files that are cut short or are no workbook: refused with one line naming the file
(and the row), and nothing changes. The cells an XLSX leaves out are empty cells, not missing
ones."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from registry.divisions import divisions
from registry.generate import generate
from registry.importer import import_file, import_files
from registry.models import RegistryImport
from registry.schema import KINDS
from registry.validate import RowValidator
from shuangsui.db import session_scope
from shuangsui.errors import ImportRejected, UserError

from .helpers import code, dump, enterprise_row, enterprises_file, write_csv

FIELDS = KINDS["enterprises"].fields


@pytest.fixture
def seeded(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    """A registry holding one enterprise of risk class D on the 经营异常名录."""
    path = enterprises_file(
        tmp_path / "seed.csv", [enterprise_row(1, risk_class="D", abnormal_listed="true")]
    )
    with session_scope(engine) as session:
        import_file(session=session, kind="enterprises", path=path)
    return engine


def _state(engine: sa.Engine) -> tuple[object, int]:
    """The registry tables and the number of recorded imports (what makes it fresh)."""
    with engine.connect() as conn:
        imports = conn.execute(sa.select(sa.func.count()).select_from(RegistryImport)).scalar()
    return dump(engine), int(imports or 0)


def _good_file(tmp_path: Path) -> Path:
    """A good file to import beside another: a set is refused as a whole."""
    return enterprises_file(tmp_path / "good.csv", [enterprise_row(7)])


def _rejected(engine: sa.Engine, path: Path, kind: str = "enterprises") -> list[str]:
    before = _state(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_file(session=session, kind=kind, path=path)
    assert _state(engine) == before, "a rejected file must change nothing"
    return [str(p) for p in info.value.problems]


def test_a_row_cut_short_is_refused_not_filled_with_defaults(
    seeded: sa.Engine, tmp_path: Path
) -> None:
    """Its first four cells kept, the D-class enterprise was updated to the defaults of the
    cells it lacked: risk class B, off the 经营异常名录, no industry."""
    path = write_csv(tmp_path / "short.csv", FIELDS, [enterprise_row(1)[:4], enterprise_row(2)])
    assert _rejected(seeded, path) == [f"{path}:2: row: 4 cells, the header has 9"]


def test_a_row_split_by_an_unquoted_line_break_is_refused(
    seeded: sa.Engine, tmp_path: Path
) -> None:
    """Both halves are refused; the second half's cells are checked where they stand, the
    cells it lacks are not named."""
    row = enterprise_row(3, address="福建省福州市\n鼓楼区五四路1号")
    path = tmp_path / "split.csv"
    path.write_text(",".join(FIELDS) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    lines = _rejected(seeded, path)
    assert lines[:2] == [
        f"{path}:2: row: 4 cells, the header has 9",
        f"{path}:3: row: 6 cells, the header has 9",
    ]
    named = [line.split(": ")[1] for line in lines[2:]]
    assert all(line.startswith(f"{path}:3: ") for line in lines[2:]), lines
    assert named == ["credit_code", "division_code", "risk_class"], lines


def test_a_row_may_lack_the_cells_under_blank_header_cells() -> None:
    """A header ending in blank cells (a spreadsheet's empty columns) names nothing there."""
    validator = RowValidator(KINDS["enterprises"], "e.csv", divisions(), {}, date(2026, 12, 2))
    assert validator.read_header([*FIELDS, "", " "]) == []
    parsed = validator.parse_rows([(2, enterprise_row(4)), (3, [*enterprise_row(5), ""])])
    assert [problems for _, _, problems in parsed] == [[], []]
    assert [row["credit_code"] for _, row, _ in parsed] == [code(4), code(5)]


def _without_dimension(path: Path) -> None:
    """The sheet's ``<dimension>`` taken out, as some programs write it: openpyxl then ends
    each row at its last cell."""
    data = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(data, "w") as zout:
        for item in zin.infolist():
            part = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                part = re.sub(rb"<dimension [^>]*/>", b"", part)
            zout.writestr(item, part)
    path.write_bytes(data.getvalue())


def test_an_xlsx_row_without_its_empty_trailing_cells_imports(
    seeded: sa.Engine, tmp_path: Path
) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(list(FIELDS))
    wb.active.append(enterprise_row(6)[:3])  # address to status left empty: not written
    wb.save(path := tmp_path / "e.xlsx")
    _without_dimension(path)
    with session_scope(seeded) as session:
        result = import_file(session=session, kind="enterprises", path=path)
    assert (result.rows, result.inserted) == (1, 1)
    with seeded.connect() as conn:
        risk = conn.execute(
            sa.text("select risk_class from enterprise where credit_code = :c"), {"c": code(6)}
        ).scalar()
    assert risk == "B"  # a new row's default


@pytest.fixture
def full(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    """A registry holding rows of every kind."""
    generate(enterprises=5, inspectors=3, seed=1, out=tmp_path / "gen")
    files = [(kind, tmp_path / "gen" / f"{kind}.csv") for kind in KINDS]
    with session_scope(engine) as session:
        import_files(session=session, files=files)
    return engine


@pytest.mark.parametrize("kind", ["enterprises", "certificates", "inspectors", "check-items"])
def test_a_header_without_rows_is_refused_and_records_no_import(
    full: sa.Engine, tmp_path: Path, kind: str
) -> None:
    """It was an import of 0 rows, recorded: the preflight took the registry for fresh. (A
    file of a list the registry holds: rows absent from a file are not deleted, so it can only
    be a file cut short.) A good file of the set is not kept either."""
    for name, blank in (("header-only", []), ("blank-lines", [[], ["", " "]])):
        path = write_csv(tmp_path / f"{name}.csv", KINDS[kind].fields, blank)
        before = _state(full)
        expected = f"{path}:2: rows: none below the header"
        with pytest.raises(ImportRejected, match=re.escape(expected)):
            with session_scope(full) as session:
                import_files(
                    session=session, files=[("enterprises", _good_file(tmp_path)), (kind, path)]
                )
        assert _state(full) == before


def test_a_header_without_rows_is_named_with_the_other_files_problems(
    full: sa.Engine, tmp_path: Path
) -> None:
    """One run names every problem of the set: a file cut short to its header and a bad row
    of another file, not the first alone."""
    bad = enterprise_row(77, name="")  # a row without its name
    enterprises = write_csv(tmp_path / "enterprises.csv", KINDS["enterprises"].fields, [bad])
    cut = write_csv(tmp_path / "certificates.csv", KINDS["certificates"].fields, [])
    before = _state(full)
    with pytest.raises(ImportRejected) as refused, session_scope(full) as session:
        import_files(session=session, files=[("enterprises", enterprises), ("certificates", cut)])
    said = [str(p) for p in refused.value.problems]
    assert any(p.startswith(f"{enterprises}:2: name:") for p in said), said
    assert f"{cut}:2: rows: none below the header" in "\n".join(said)
    assert _state(full) == before


def test_no_conflicts_or_an_empty_list_import_but_no_rows_at_all_is_no_import(
    full: sa.Engine, tmp_path: Path
) -> None:
    """A bureau may have no new conflicts to declare, and a list the registry does not hold
    yet exports as its header alone: such files are read as they are. But a set without a
    row is no import: the registry is no fresher for it."""
    no_conflicts = write_csv(tmp_path / "conflicts.csv", KINDS["conflicts"].fields, [])
    no_items = write_csv(tmp_path / "check-items.csv", KINDS["check-items"].fields, [])
    _, imports = _state(full)
    with session_scope(full) as session:
        results = import_files(
            session=session,
            files=[("enterprises", _good_file(tmp_path)), ("conflicts", no_conflicts)],
        )
    assert [(r.kind, r.rows) for r in results] == [("enterprises", 1), ("conflicts", 0)]
    before = _state(full)
    assert before[1] == imports + 1
    with session_scope(full) as session:
        [alone] = import_files(session=session, files=[("conflicts", no_conflicts)])
    assert alone.rows == 0 and _state(full) == before
    with session_scope(full) as session:
        session.execute(sa.text("delete from checkitem"))  # a list the registry lacks
    before = _state(full)
    with session_scope(full) as session:
        [alone] = import_files(session=session, files=[("check-items", no_items)])
    assert alone.rows == 0 and _state(full) == before


def _not_workbooks(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "text.xlsx"
    text.write_text(",".join(FIELDS) + "\n", encoding="utf-8")
    archive = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    wb = openpyxl.Workbook()
    wb.active.append(list(FIELDS))
    wb.save(damaged := tmp_path / "damaged.xlsx")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    return {"File is not a zip file": text, "no item named": archive, "Error -3": damaged}


def test_a_file_that_is_no_workbook_is_named(seeded: sa.Engine, tmp_path: Path) -> None:
    """It stopped the import with ``zipfile.BadZipFile`` (or ``KeyError``, ``zlib.error``)."""
    for reason, path in _not_workbooks(tmp_path).items():
        before = _state(seeded)
        expected = rf"^{re.escape(str(path))}: not an XLSX workbook \(.*{reason}.*\); save it as"
        with pytest.raises(UserError, match=expected), session_scope(seeded) as session:
            import_file(session=session, kind="enterprises", path=path)
        assert _state(seeded) == before
