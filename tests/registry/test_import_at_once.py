"""Two registry imports at once (two coordinators, or one command started twice): the second
waits for the first and compares its rows with what the first committed. The same file twice
changes nothing the second time; never are the first import's rows "duplicates" of the second.

The interleaving is forced: the first import has written its rows and not committed when the
second starts, and commits only once the second has reached the registry's tables (or the lock
that keeps it from them)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry.importer import ImportResult, import_files

from .helpers import enterprise_row, enterprises_file

ROWS = 40
SECOND = "second-import"


def _started_on_the_tables(engine: sa.Engine) -> threading.Event:
    """Set when the second import's thread sends its first statement that takes the
    registry's lock or reads a registry table."""
    reached = threading.Event()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.current_thread().name != SECOND:
            return
        if any(s in statement for s in ("pg_advisory_xact_lock", "BEGIN IMMEDIATE", "enterprise")):
            reached.set()

    return reached


@pytest.mark.parametrize("second_file", ["same", "renamed"])
def test_a_second_import_started_meanwhile_reads_what_the_first_committed(
    engine: sa.Engine, tmp_path: Path, second_file: str
) -> None:
    first = enterprises_file(tmp_path / "a.csv", [enterprise_row(n) for n in range(ROWS)])
    if second_file == "same":
        other = first
    else:  # the same enterprises under new names: updates of the first import's rows
        renamed = [enterprise_row(n, name=f"厦门市思明区改名{n}有限公司") for n in range(ROWS)]
        other = enterprises_file(tmp_path / "b.csv", renamed)
    reached = _started_on_the_tables(engine)
    outcome: list[ImportResult | BaseException] = []

    def second() -> None:
        try:
            with Session(engine) as session:
                outcome.extend(import_files(session=session, files=[("enterprises", other)]))
                session.commit()
        except BaseException as exc:  # the test reports it
            outcome.append(exc)

    with Session(engine) as session:
        (done,) = import_files(session=session, files=[("enterprises", first)])
        assert done.inserted == ROWS
        thread = threading.Thread(target=second, name=SECOND)
        thread.start()
        try:
            assert reached.wait(60), f"the second import never started: {outcome}"
        finally:
            session.commit()
    thread.join(120)

    assert len(outcome) == 1 and isinstance(outcome[0], ImportResult), outcome
    result = outcome[0]
    assert result.inserted == 0
    if second_file == "same":
        assert (result.updated, result.unchanged) == (0, ROWS)
    else:
        assert (result.updated, result.unchanged) == (ROWS, 0)
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT name FROM enterprise")).scalars().all()
        changes = conn.execute(
            sa.text("SELECT COUNT(*) FROM registry_change WHERE table_name = 'enterprise'")
        ).scalar_one()
    assert len(names) == ROWS
    assert changes == (ROWS if second_file == "same" else 2 * ROWS)
    if second_file == "renamed":
        assert all(n.startswith("厦门市思明区改名") for n in names)
