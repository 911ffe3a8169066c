"""An import that fails, for a bad row or midway, leaves the registry and its schema as they
were, and gives its connection back with the page cache it came with."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry import importer
from registry.importer import import_files
from shuangsui.db import session_scope
from shuangsui.errors import ImportRejected
from tests.garbage import garbage_of

from .helpers import (
    REGISTRY_TABLES,
    certificate_row,
    certificates_file,
    dump,
    enterprise_row,
    enterprises_file,
)


def _indexes(conn: sa.Connection) -> dict[str, list[tuple[str, tuple[str, ...], bool]]]:
    inspector = sa.inspect(conn)
    return {
        table: sorted(
            (ix["name"] or "", tuple(c or "" for c in ix["column_names"]), bool(ix["unique"]))
            for ix in inspector.get_indexes(table)
        )
        for table in REGISTRY_TABLES
    }


def _files(tmp_path: Path, bad_certificate: bool = False) -> list[tuple[str, Path]]:
    ents = enterprises_file(tmp_path / "ent.csv", [enterprise_row(n) for n in range(1, 6)])
    rows = [certificate_row(n, n) for n in range(1, 6)]
    if bad_certificate:
        rows.append(certificate_row(9, 99))  # an enterprise the registry does not hold
    return [("enterprises", ents), ("certificates", certificates_file(tmp_path / "c.csv", rows))]


def test_a_rejected_import_leaves_the_indexes_and_the_rows(
    engine: sa.Engine, tmp_path: Path
) -> None:
    with engine.connect() as conn:
        before = _indexes(conn)
    rows = dump(engine)
    with pytest.raises(ImportRejected), session_scope(engine) as session:
        import_files(session=session, files=_files(tmp_path, bad_certificate=True))
    with engine.connect() as conn:
        assert _indexes(conn) == before
    assert dump(engine) == rows


def test_an_import_that_fails_midway_is_rolled_back_with_its_indexes(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash inside the import (not a bad row) rolls back before it is raised: a caller that
    committed after catching it could otherwise commit half an import set."""
    with engine.connect() as conn:
        before = _indexes(conn)
    rows = dump(engine)
    real, calls = importer._import_one, []

    def failing(session, spec, path, state):  # type: ignore[no-untyped-def]
        calls.append(spec.name)
        if len(calls) == 2:
            raise OSError("disk gone")
        return real(session, spec, path, state)

    monkeypatch.setattr(importer, "_import_one", failing)
    with Session(engine) as session:
        with pytest.raises(OSError, match="disk gone"):
            import_files(session=session, files=_files(tmp_path))
        session.commit()  # what a careless caller might do: nothing is left to commit
    with engine.connect() as conn:
        assert _indexes(conn) == before
    assert dump(engine) == rows


def test_the_connection_keeps_its_page_cache_size(engine: sa.Engine, tmp_path: Path) -> None:
    """The import's large SQLite page cache lasts only as long as the import: the connection
    goes back to its pool with the size it came with."""
    if engine.dialect.name != "sqlite":
        pytest.skip("a SQLite connection setting")
    with engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        with Session(bind=conn) as session:
            import_files(session=session, files=_files(tmp_path))
            session.commit()
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before
        assert before != -importer.SQLITE_CACHE_KIB


def test_an_import_leaves_nothing_of_its_rows_in_reference_cycles(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import runs with the cyclic collector paused (``shuangsui.collector``): what it
    left in a reference cycle would stay in memory until the next collection. A bad cell's
    error is kept as a value; with its traceback it held the frames reading its chunk, and
    through them every row of the chunk, in a cycle (a required text column made one such
    error per chunk, bad cell or not). A rejected set, then the same set corrected, in chunks
    of two rows: no frame or row of the import is garbage afterwards."""
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    ents = [enterprise_row(n) for n in range(1, 6)]
    ents[3][1] = ""  # a required name left empty: a bad cell
    bad = enterprises_file(tmp_path / "bad.csv", ents)
    with garbage_of("/registry/") as left:
        with pytest.raises(ImportRejected), session_scope(engine) as session:
            import_files(session=session, files=[("enterprises", bad)])
        with session_scope(engine) as session:
            import_files(session=session, files=_files(tmp_path))
    assert left.frames == []
    assert left.rows == []
