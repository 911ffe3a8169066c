"""Mutual recognition (监管互认) and the coordinator's combined view.

A partner's published inspection of an enterprise for a matching check item (codes match,
or are mapped in the partner directory) counts in our draw's exclusion window, cited by
partner and log entry. A result later retracted does not count; a correction counts instead
of the result it corrects.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from exchange.directory import load_directory
from exchange.models import ExchangeEntry, PartnerEntry
from exchange.settings import origin_of

RESULT_KINDS = ("result", "correction")


def _superseded(conn: Connection) -> set[tuple[str, str]]:
    q = select(PartnerEntry.partner_code, PartnerEntry.supersedes).where(
        PartnerEntry.supersedes.is_not(None)  # type: ignore[union-attr]
    )
    return {(p, s) for p, s in conn.execute(q)}


def partner_inspections(conn: Connection, *, check_item: str, since: dt.date) -> dict[str, str]:
    """credit_code -> citation of partners' inspections for ``check_item`` on or after
    ``since``: the same shape as ``rounds.frames.recent_inspections``."""
    q = (
        select(PartnerEntry.partner_code, PartnerEntry.seq, PartnerEntry.entry_id,
               PartnerEntry.credit_code, PartnerEntry.event_date, PartnerEntry.leaf_hash)
        .where(PartnerEntry.kind.in_(RESULT_KINDS), PartnerEntry.check_item == check_item,  # type: ignore[attr-defined]
               PartnerEntry.event_date >= since)  # type: ignore[operator]
        .order_by(PartnerEntry.event_date, PartnerEntry.partner_code, PartnerEntry.seq)
    )  # fmt: skip
    rows = list(conn.execute(q))
    if not rows:
        return {}
    gone = _superseded(conn)
    names = {code: p.name for code, p in load_directory().items()}
    cited: dict[str, str] = {}
    for code, seq, entry_id, credit, day, lh in rows:
        if (code, entry_id) in gone or not credit:
            continue
        cited[credit] = (
            f"监管互认: {names.get(code, code)} ({origin_of(code)} 日志第 {seq} 条, "
            f"{entry_id}, 叶哈希 {lh[:16]}) 已于 {day.isoformat()} 检查"
        )
    return cited


def combined_view(engine: Engine, credit_code: str) -> dict[str, Any]:
    """Our rounds and results for an enterprise, and every partner's, side by side."""
    from rounds.models import Round, Selection

    with Session(engine) as session:
        ours: list[dict[str, Any]] = []
        q = (
            select(Round.round_key, Round.check_item_code, Round.window_start, Round.window_end)
            .join(Selection, Selection.round_key == Round.round_key)  # type: ignore[arg-type]
            .where(Selection.credit_code == credit_code)
        )
        for key, item, start, end in session.execute(q):
            ours.append({"kind": "selected", "round_key": key, "check_item": item,
                         "window": [start.isoformat(), end.isoformat()]})  # fmt: skip
        for entry in session.exec(
            select(ExchangeEntry).where(ExchangeEntry.kind.in_(RESULT_KINDS + ("retraction",)))
        ).scalars():  # type: ignore[call-overload,attr-defined]
            doc = json.loads(entry.body)
            if doc["body"].get("credit_code") == credit_code:
                ours.append(
                    {"kind": entry.kind, "entry": entry.entry_id, "seq": entry.seq, **doc["body"]}
                )
        theirs: list[dict[str, Any]] = []
        q2 = (
            select(PartnerEntry)
            .where(PartnerEntry.credit_code == credit_code)
            .order_by(
                PartnerEntry.partner_code,
                PartnerEntry.seq,  # type: ignore[arg-type]
            )
        )
        rounds = select(PartnerEntry).where(PartnerEntry.kind == "round")
        for pe in list(session.exec(q2).scalars()) + [  # type: ignore[call-overload]
            r
            for r in session.exec(rounds).scalars()  # type: ignore[call-overload]
            if credit_code in json.loads(r.body)["body"].get("selection", [])
        ]:
            body = json.loads(pe.body)["body"]
            row = {"partner": pe.partner_code, "kind": pe.kind, "entry": pe.entry_id,
                   "seq": pe.seq, "supersedes": pe.supersedes}  # fmt: skip
            if pe.kind == "round":
                row |= {"round_key": body["round_key"], "check_item": body["check_item"]}
            else:
                row |= {k: v for k, v in body.items() if k != "request"}
            theirs.append(row)
    return {"credit_code": credit_code, "ours": ours, "partners": theirs}
