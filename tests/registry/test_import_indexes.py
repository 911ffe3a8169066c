"""On SQLite a large first import makes the plain indexes of its tables after their rows are in;
whatever happens, the schema it leaves is the schema it found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry import importer
from registry.importer import import_files
from shuangsui.db import session_scope
from shuangsui.errors import ImportRejected

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


@pytest.fixture
def seen_midway(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The indexes as the import's own transaction sees them before each file."""
    seen: list[dict[str, Any]] = []
    real = importer._import_one

    def spying(session, spec, path, state):  # type: ignore[no-untyped-def]
        seen.append(_indexes(session.connection()))
        return real(session, spec, path, state)

    monkeypatch.setattr(importer, "_import_one", spying)
    return seen


def test_first_import_makes_its_indexes_after_the_rows(
    engine: sa.Engine, tmp_path: Path, seen_midway: list[dict[str, Any]]
) -> None:
    with engine.connect() as conn:
        before = _indexes(conn)
    assert ("ix_certificate_credit_code", ("credit_code",), False) in before["certificate"]
    with session_scope(engine) as session:
        import_files(session=session, files=_files(tmp_path))
    with engine.connect() as conn:
        assert _indexes(conn) == before
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT body FROM certificate WHERE credit_code = 'x'"
            if engine.dialect.name == "sqlite"
            else "EXPLAIN SELECT body FROM certificate WHERE credit_code = 'x'"
        ).all()
        assert plan  # the statement plans against the made-again index without error
    midway = seen_midway[1]  # before the certificate file
    if engine.dialect.name == "sqlite":
        assert midway["certificate"] == [i for i in before["certificate"] if i[2]]  # keys only
        assert midway["registry_change"] == []
        assert all(unique for _, _, unique in midway["enterprise"])
    else:  # PostgreSQL keeps every index (dropping one would lock out the table's readers)
        assert midway == before


def test_a_large_table_keeps_its_indexes(
    engine: sa.Engine,
    tmp_path: Path,
    seen_midway: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed = enterprises_file(tmp_path / "seed.csv", [enterprise_row(n) for n in range(10, 14)])
    with session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", seed)])
    monkeypatch.setattr(importer, "DEFER_INDEXES_BELOW", 4)  # enterprise and history now "large"
    with engine.connect() as conn:
        before = _indexes(conn)
    seen_midway.clear()
    with session_scope(engine) as session:
        import_files(session=session, files=_files(tmp_path))
    assert seen_midway[1]["enterprise"] == before["enterprise"]
    assert seen_midway[1]["registry_change"] == before["registry_change"]
    if engine.dialect.name == "sqlite":  # the empty certificate table still defers its own
        assert seen_midway[1]["certificate"] != before["certificate"]
    with engine.connect() as conn:
        assert _indexes(conn) == before


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
    committed after catching it could otherwise commit half an import set (and on SQLite a
    registry without its indexes)."""
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
    """The import's large SQLite page cache (and the small one it sorts indexes with) last only
    as long as the import: the connection goes back to its pool with the size it came with."""
    if engine.dialect.name != "sqlite":
        pytest.skip("a SQLite connection setting")
    with engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        with Session(bind=conn) as session:
            import_files(session=session, files=_files(tmp_path))
            session.commit()
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before
        assert before != -importer.SQLITE_CACHE_KIB
