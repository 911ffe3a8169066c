"""Export registry tables in the format import reads (CSV with BOM or XLSX, by extension).

Each file is written atomically (``registry.io.write_table``). Exports into one folder take
turns (its writer lock, ``shuangsui.files``): one started meanwhile waits, then reads the
registry as the first left it, so the folder never holds one export's file among another's."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from registry.history import canonical_row
from registry.io import file_format, write_table
from registry.schema import KINDS, cells_of
from shuangsui.files import remove_leftovers, writer_lock
from shuangsui.paths import inside

logger = logging.getLogger(__name__)


def _rows(session: Session, kind: str) -> Iterator[list[str]]:
    spec = KINDS[kind]
    table = spec.table
    query = (
        sa.select(*(table.c[f] for f in spec.fields))
        .order_by(*(table.c[k] for k in spec.key))
        .execution_options(yield_per=10_000)
    )
    for row in session.connection().execute(query):
        yield cells_of(spec, canonical_row(spec, row._mapping))


def export_kind(*, session: Session, kind: str, out: Path) -> int:
    """Write every row of ``kind`` to ``out``, ordered by natural key; returns the row count.
    Holds the writer lock of ``out``'s folder."""
    file_format(out)
    with writer_lock(out.parent):
        return _export(session, kind, out)


def export_all(*, session: Session, out_dir: Path, suffix: str = ".csv") -> dict[str, int]:
    """Every kind into ``out_dir`` as ``<kind><suffix>`` (the names ``import all`` reads),
    holding the folder's writer lock throughout."""
    with writer_lock(out_dir):
        remove_leftovers(out_dir)
        return {kind: _export(session, kind, inside(out_dir, f"{kind}{suffix}")) for kind in KINDS}


def _export(session: Session, kind: str, out: Path) -> int:
    count = write_table(out, KINDS[kind].fields, _rows(session, kind))
    logger.info("exported %d %s to %s", count, kind, out)
    return count
