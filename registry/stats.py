"""Counts of the registry: enterprises by prefecture and risk class, certificates by kind and
status, plus the size of each list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from registry.divisions import divisions, prefecture_of
from registry.models import Certificate, Enterprise
from registry.schema import KINDS


def _grouped(session: Session, *columns: Any) -> list[tuple[Any, ...]]:
    query = sa.select(*columns, sa.func.count()).group_by(*columns).order_by(*columns)
    return [tuple(r) for r in session.connection().execute(query)]


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def registry_stats(*, session: Session) -> dict[str, Any]:
    """A JSON-ready summary; division counts roll up to prefecture level with names."""
    ent = Enterprise.__table__  # type: ignore[attr-defined]
    cert = Certificate.__table__  # type: ignore[attr-defined]
    table = divisions()
    by_prefecture: dict[str, int] = {}
    for code, n in _grouped(session, ent.c.division_code):
        pref = prefecture_of(code)
        by_prefecture[pref] = by_prefecture.get(pref, 0) + n
    totals = {
        kind: session.connection()
        .execute(sa.select(sa.func.count()).select_from(spec.table))
        .scalar_one()
        for kind, spec in KINDS.items()
    }
    return {
        "totals": totals,
        "enterprises_by_prefecture": [
            {"code": code, "name": table.name(code), "count": n}
            for code, n in sorted(by_prefecture.items())
        ],
        "enterprises_by_risk_class": {_value(r): n for r, n in _grouped(session, ent.c.risk_class)},
        "certificates_by_kind_status": [
            {"kind": _value(k), "status": _value(s), "count": n}
            for k, s, n in _grouped(session, cert.c.kind, cert.c.status)
        ],
    }
