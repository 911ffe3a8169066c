"""Import upheld complaints from a CSV (credit_code, ref, upheld_on[, summary]).

Any bad row rejects the whole file (FILE:ROW: field: reason). A complaint already held (same
enterprise and reference) is left as it is. The file's SHA-256 is in the audit log.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from registry.models import Enterprise
from risk.events import RiskComplaintsImported
from risk.models import RiskComplaint
from rounds import audit
from shuangsui.errors import ImportRejected, RowProblem, UserError

_RC = RiskComplaint.__table__  # type: ignore[attr-defined]
_E = Enterprise.__table__  # type: ignore[attr-defined]
COLUMNS = ("credit_code", "ref", "upheld_on")


def import_complaints(engine: Engine, path: Path, *, by: str) -> int:
    """Rows added (complaints already held are skipped)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path.name}: not UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise UserError(f"{path.name}: missing column {missing[0]} (needs {', '.join(COLUMNS)})")
    rows: list[dict[str, Any]] = []
    problems: list[RowProblem] = []
    now = dt.datetime.now(dt.UTC)
    for n, rec in enumerate(reader, start=2):
        code, ref = (rec.get("credit_code") or "").strip(), (rec.get("ref") or "").strip()
        if not code:
            problems.append(RowProblem(path.name, n, "credit_code", "empty"))
        if not ref:
            problems.append(RowProblem(path.name, n, "ref", "empty"))
        try:
            day = dt.date.fromisoformat((rec.get("upheld_on") or "").strip())
        except ValueError:
            problems.append(RowProblem(path.name, n, "upheld_on", "not a YYYY-MM-DD date"))
            continue
        rows.append({"credit_code": code, "ref": ref, "upheld_on": day,
                     "summary": (rec.get("summary") or "").strip(), "imported_at": now,
                     "imported_by": by, "_row": n})  # fmt: skip
    with engine.connect() as conn:
        codes = {r["credit_code"] for r in rows}
        known = {c for (c,) in conn.execute(sa.select(_E.c.credit_code).where(
            _E.c.credit_code.in_(sorted(codes))))} if codes else set()  # fmt: skip
        held = {(c, r) for c, r in conn.execute(sa.select(_RC.c.credit_code, _RC.c.ref))}
    for r in rows:
        if r["credit_code"] and r["credit_code"] not in known:
            problems.append(RowProblem(path.name, r["_row"], "credit_code", "not in the registry"))
    if problems:
        raise ImportRejected(problems)
    new = {
        (r["credit_code"], r["ref"]): r for r in rows if (r["credit_code"], r["ref"]) not in held
    }
    fresh = [{k: v for k, v in r.items() if k != "_row"} for r in new.values()]
    for _attempt in range(20):
        with Session(engine) as session:
            if fresh:
                session.connection().execute(sa.insert(_RC), fresh)
            event = RiskComplaintsImported(hashlib.sha256(data).hexdigest(), len(fresh), by)
            audit.add_to(session, None, event)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
        return len(fresh)
    raise RuntimeError("could not record the import: the audit log is too busy")
