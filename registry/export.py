"""Export registry tables in the format import reads (CSV with BOM or XLSX, by extension)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from registry.history import canonical_row
from registry.io import file_format, write_table
from registry.schema import KINDS, cells_of
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
    """Write every row of ``kind`` to ``out``, ordered by natural key; returns the row count."""
    file_format(out)
    count = write_table(out, KINDS[kind].fields, _rows(session, kind))
    logger.info("exported %d %s to %s", count, kind, out)
    return count


def export_all(*, session: Session, out_dir: Path, suffix: str = ".csv") -> dict[str, int]:
    """Every kind into ``out_dir`` as ``<kind><suffix>`` (the names ``import all`` reads)."""
    return {
        kind: export_kind(session=session, kind=kind, out=inside(out_dir, f"{kind}{suffix}"))
        for kind in KINDS
    }
