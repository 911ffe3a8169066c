"""Classify every active enterprise as of a date, and say which classes are in force.

A run reads the inputs in bulk (risk/inputs.py), scores each enterprise with
``risk.verify_classes.score`` (the function the outsider's check runs), and writes one row per
enterprise through Core in batches, with the run, its rules and an audit event, in one
transaction. Enterprises with the same inputs share one scoring: most have none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from draw.canonical import canonical_json
from findings import dates
from risk.events import RiskClassified
from risk.inputs import gather
from risk.models import RiskClassification, RiskOverride, RiskRun
from risk.rules import Rules
from risk.verify_classes import input_digest, score
from rounds import audit
from shuangsui.config import get_settings
from shuangsui.errors import UserError

logger = logging.getLogger(__name__)

_R = RiskRun.__table__  # type: ignore[attr-defined]
_K = RiskClassification.__table__  # type: ignore[attr-defined]
_O = RiskOverride.__table__  # type: ignore[attr-defined]
BATCH = 20_000
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
FLAGS_ONLY = {
    (a, s): canonical_json(
        {k: True for k, v in (("abnormal_listed", a), ("serious_violation", s)) if v}
    )
    for a in (False, True)
    for s in (False, True)
}


@dataclass(frozen=True)
class Classified:
    run_id: int
    as_of: dt.date
    enterprises: int
    counts: dict[str, int]
    digest: str
    rules_id: str
    rules_hash: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


EARLIEST_AS_OF = dt.date(2000, 1, 1)


def as_of_refusal(as_of: dt.date) -> str | None:
    """Why no classification can be dated ``as_of`` (``DATE is ...``), or None.

    Not after today in the bureau's zone, as no complaint may be upheld after it
    (risk/complaints.py): a run is in force from the moment it is stored, and a later date would
    age every input by days that have not come. Not before 2000-01-01, years before any check
    this system records: from 0001-01-01 the complaints' window reached before the first date
    there is (an ``OverflowError`` traceback)."""
    today = dates.today()
    if as_of > today:
        return (
            f"{as_of} is in the future (today is {today}, {get_settings().timezone}); "
            "classify as of today or an earlier day"
        )
    if as_of < EARLIEST_AS_OF:
        return f"{as_of} is before {EARLIEST_AS_OF}, the earliest classification date"
    return None


def compute(
    conn: Connection, rules: Rules, as_of: dt.date, salt: str
) -> list[tuple[str, str, int, str, str]]:
    """(credit_code, class, score, input_digest, inputs JSON) per active enterprise, sorted."""
    doc = rules.doc
    memo: dict[bytes, tuple[int, str]] = {}
    out = []
    days = doc["complaints"]["within_days"]
    for code, sparse, abnormal, serious in gather(
        conn, as_of=as_of, complaint_days=days, salt=salt
    ):
        if sparse is None:  # the common case: only the flags, if any
            text = FLAGS_ONLY[abnormal, serious]
        else:
            inputs = dict(sparse)
            if abnormal:
                inputs["abnormal_listed"] = True
            if serious:
                inputs["serious_violation"] = True
            text = _dumps(inputs).encode()  # strings, ints, bools and lists of them only
        if sparse is None:
            scored = memo.get(text)
            if scored is None:
                scored = memo[text] = score(doc, json.loads(text), as_of)[:2]
        else:
            scored = score(doc, inputs, as_of)[:2]
        out.append((code, scored[1], scored[0], input_digest(code, text), text.decode()))
    return out


def run_digest(rows: list[tuple[str, str, int, str, str]]) -> str:
    h = hashlib.sha256()
    for code, cls, _score, digest, _text in rows:
        h.update(f"{code} {digest} {cls}\n".encode())
    return h.hexdigest()


CLASS_COLUMNS = ("run_id", "credit_code", "risk_class", "score", "input_digest", "inputs")


def write_classes(
    conn: Connection, run_id: int, rows: list[tuple[str, str, int, str, str]]
) -> None:
    """Tuples straight to the driver: COPY on PostgreSQL (psycopg), one prepared executemany
    per batch on SQLite, Core elsewhere. Every column is plain text or an integer."""
    names = ", ".join(CLASS_COLUMNS)
    for i in range(0, len(rows), BATCH):
        batch = [(run_id, *r) for r in rows[i : i + BATCH]]
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur, cur.copy(f"COPY risk_class ({names}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        elif conn.dialect.name == "sqlite":
            marks = ", ".join("?" * len(CLASS_COLUMNS))
            conn.exec_driver_sql(f"INSERT INTO risk_class ({names}) VALUES ({marks})", batch)
        else:
            conn.execute(sa.insert(_K), [dict(zip(CLASS_COLUMNS, r, strict=True)) for r in batch])


def classify(engine: Engine, rules: Rules, *, as_of: dt.date, by: str = "") -> Classified:
    """One run over every active enterprise; it is in force from the moment it is stored."""
    if refusal := as_of_refusal(as_of):
        raise UserError(f"as_of: {refusal}")
    salt = secrets.token_hex(32)
    with engine.connect() as conn:
        rows = compute(conn, rules, as_of, salt)
    counts = dict(sorted(Counter(r[1] for r in rows).items()))
    digest = run_digest(rows)
    for _attempt in range(5):
        with Session(engine) as session:
            conn = session.connection()
            run_id = conn.execute(
                sa.insert(_R).returning(_R.c.id),
                {"as_of": as_of, "rules_id": rules.id, "rules_hash": rules.hash,
                 "rules_text": rules.text, "computed_at": _now(), "computed_by": by,
                 "enterprises": len(rows), "counts": counts, "digest": digest, "salt": salt},
            ).scalar_one()  # fmt: skip
            write_classes(conn, run_id, rows)
            event = RiskClassified(run_id, as_of.isoformat(), rules.id, rules.hash, len(rows),
                                   counts, digest, by)  # fmt: skip
            try:  # the append meets another at its flush (a raw IntegrityError) or the commit
                audit.add_to(session, None, event)
                session.commit()
            except IntegrityError:  # the audit log moved under us: write again on its new head
                session.rollback()
                continue
        logger.info("risk run %d as of %s: %d enterprises %s", run_id, as_of, len(rows), counts)
        return Classified(run_id, as_of, len(rows), counts, digest, rules.id, rules.hash)
    raise RuntimeError("could not store the classification (audit log contention)")


# ------------------------------------------------------------------ in force
def run_in_force(conn: Connection, at: dt.datetime | None = None) -> Mapping[str, Any] | None:
    """The latest run stored at or before ``at`` (now when None)."""
    q = sa.select(_R).order_by(_R.c.computed_at.desc(), _R.c.id.desc()).limit(1)
    if at is not None:
        q = q.where(_R.c.computed_at <= at)
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def overrides_in_force(conn: Connection, at: dt.datetime | None = None) -> dict[str, Any]:
    """credit_code -> the override row approved last at or before ``at``."""
    q = sa.select(_O).where(_O.c.status == "approved")
    if at is not None:
        q = q.where(_O.c.approved_at <= at)
    out: dict[str, Any] = {}
    for row in conn.execute(q.order_by(_O.c.approved_at, _O.c.id)).mappings():
        out[row["credit_code"]] = dict(row)
    return out


@dataclass(frozen=True)
class Read:
    """The classes in force as one read found them, and what they came from: the run (None
    when nothing was ever classified) and the approved overrides in force, by id."""

    classes: dict[str, str]
    run_id: int | None
    overrides: tuple[int, ...]


def read_in_force(conn: Connection, at: dt.datetime | None = None) -> Read:
    """The classes in force at ``at`` (now when None), with the run and overrides they come
    from: a round's frame records these (``risk.hooks``), and its bundle reads the same."""
    run = run_in_force(conn, at)
    out: dict[str, str] = {}
    if run is not None:
        q = sa.select(_K.c.credit_code, _K.c.risk_class).where(_K.c.run_id == run["id"])
        out = {code: str(cls) for code, cls in conn.execute(q)}
    held = overrides_in_force(conn, at)
    for code, row in held.items():
        out[code] = str(row["risk_class"])
    ids = tuple(sorted(int(row["id"]) for row in held.values()))
    return Read(out, None if run is None else int(run["id"]), ids)


def classes_in_force(conn: Connection, at: dt.datetime | None = None) -> dict[str, str]:
    """credit_code -> class in force (an approved override wins over the run's class); empty
    when nothing was ever classified or overridden (the registry's classes stand)."""
    return read_in_force(conn, at).classes


def run_by_id(conn: Connection, run_id: int) -> Mapping[str, Any] | None:
    row = conn.execute(sa.select(_R).where(_R.c.id == run_id)).mappings().first()
    return dict(row) if row else None


def overrides_by_id(conn: Connection, ids: list[int]) -> dict[str, Any]:
    """credit_code -> the override row of ``ids`` (the overrides in force a frame read)."""
    out: dict[str, Any] = {}
    for i in range(0, len(ids), 10_000):  # PostgreSQL takes 65,535 parameters a statement
        q = sa.select(_O).where(_O.c.id.in_(ids[i : i + 10_000]))
        out |= {row["credit_code"]: dict(row) for row in conn.execute(q).mappings()}
    return out
