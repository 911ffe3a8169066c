"""The registry's history: every insert or update is a ``registry_change`` row holding the whole
canonical row before and after. The registry as it stood at any instant is rebuilt from it."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from registry.models import RegistryChange
from registry.schema import KINDS, Kind, row_key

CHANGES = RegistryChange.__table__  # type: ignore[attr-defined]


def canonical_value(value: Any) -> Any:
    """A database value as the importer's canonical (JSON-compatible) value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical_row(kind: Kind, row: Mapping[Any, Any]) -> dict[str, Any]:
    return {name: canonical_value(row[name]) for name in kind.fields}


def current_rows(*, session: Session, kind: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """The live table of ``kind`` as canonical rows by natural key."""
    spec = KINDS[kind]
    table = spec.table
    result = session.connection().execute(sa.select(*(table.c[f] for f in spec.fields)))
    rows = (canonical_row(spec, r._mapping) for r in result)
    return {spec.key_of(r): r for r in rows}


def _changes(
    session: Session, spec: Kind, instant: datetime
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    query = (
        sa.select(CHANGES.c.row_key, CHANGES.c.after)
        .where(CHANGES.c.table_name == spec.table_name, CHANGES.c.at <= instant)
        .order_by(CHANGES.c.seq)
    )
    yield from session.connection().execute(query.execution_options(yield_per=10_000))


def registry_at(
    *, session: Session, kind: str, instant: datetime
) -> dict[tuple[str, ...], dict[str, Any]]:
    """The table of ``kind`` as it stood at ``instant`` (aware datetime), rebuilt from history:
    per key, the ``after`` of its last change at or before ``instant``; a delete removes it."""
    spec = KINDS[kind]
    state: dict[str, dict[str, Any] | None] = {}
    for key, after in _changes(session, spec, instant):
        state[key] = after
    rows = (after for after in state.values() if after is not None)
    return {spec.key_of(r): r for r in rows}


def change_rows(
    *,
    spec: Kind,
    changes: Iterable[tuple[str, dict[str, Any] | None, dict[str, Any]]],
    at: datetime,
    source: str,
    batch_id: str,
) -> list[dict[str, Any]]:
    """``registry_change`` rows for ``(op, before, after)`` triples, in order."""
    return [
        {
            "at": at,
            "table_name": spec.table_name,
            "row_key": row_key(spec.key_of(after)),
            "op": op,
            "before": before,
            "after": after,
            "source": source,
            "batch_id": batch_id,
        }
        for op, before, after in changes
    ]
