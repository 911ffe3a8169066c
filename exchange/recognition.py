"""Mutual recognition (监管互认) and the coordinator's combined view.

A partner's published inspection of an enterprise for a matching check item (codes match,
or are mapped in the partner directory) counts in our draw's exclusion window, cited by
partner and log entry. A result later retracted does not count; a correction counts instead
of the result it corrects. A result inspected after the day it was logged (an inspection that
had not happened) counts for none: read so here, where draws read the results, and not only
when a sync stores them (a row an older shuangsui stored, inspected 2099-12-31, kept an
enterprise out of every draw of the item until 2099).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from exchange.apply import kept_unread, logged_at, said
from exchange.directory import load_directory
from exchange.models import ExchangeEntry, PartnerEntry
from exchange.settings import origin_of
from shuangsui.clock import local_time

RESULT_KINDS = ("result", "correction")


def _superseded(conn: Connection) -> set[tuple[str, str]]:
    q = select(col(PartnerEntry.partner_code), col(PartnerEntry.supersedes)).where(
        col(PartnerEntry.supersedes).is_not(None)
    )
    return {(p, cast(str, s)) for p, s in conn.execute(q)}  # non-null: see the where


def partner_inspections(conn: Connection, *, check_item: str, since: dt.date) -> dict[str, str]:
    """credit_code -> citation of partners' inspections for ``check_item`` on or after
    ``since``: the same shape as ``rounds.frames.recent_inspections``. A result inspected
    after the day it was logged (``exchange.apply.logged_at`` of its ``at`` and of when we
    stored it) is left out, whatever its row's ``event_date`` says."""
    q = (
        select(col(PartnerEntry.partner_code), col(PartnerEntry.seq), col(PartnerEntry.entry_id),
               col(PartnerEntry.credit_code), col(PartnerEntry.event_date),
               col(PartnerEntry.leaf_hash), col(PartnerEntry.body),
               col(PartnerEntry.applied_at))
        .where(col(PartnerEntry.kind).in_(RESULT_KINDS), col(PartnerEntry.check_item) == check_item,
               col(PartnerEntry.event_date) >= since)
        .order_by(col(PartnerEntry.event_date), col(PartnerEntry.partner_code),
                  col(PartnerEntry.seq))
    )  # fmt: skip
    rows = list(conn.execute(q))
    if not rows:
        return {}
    gone = _superseded(conn)
    names = {code: p.name for code, p in load_directory().items()}
    cited: dict[str, str] = {}
    for code, seq, entry_id, credit, when, lh, body, stored in rows:
        if (code, entry_id) in gone or not credit:
            continue
        day = cast(dt.date, when)  # non-null: the where compares it
        if day > local_time(logged_at(json.loads(body).get("at"), stored)).date():
            continue  # not yet done when it was logged: counts for no draw
        cited[credit] = (
            f"监管互认: {names.get(code, code)} ({origin_of(code)} 日志第 {seq} 条, "
            f"{entry_id}, 叶哈希 {lh[:16]}) 已于 {day.isoformat()} 检查"
        )
    return cited


def combined_view(engine: Engine, credit_code: str) -> dict[str, Any]:
    """Our rounds and results for an enterprise, and every partner's, side by side; and
    each partner's entries kept unread (of kinds this shuangsui does not know)."""
    from rounds.models import Round, Selection

    with Session(engine) as session:
        ours: list[dict[str, Any]] = []
        q = (
            select(
                col(Round.round_key),
                col(Round.check_item_code),
                col(Round.window_start),
                col(Round.window_end),
            )
            .join(Selection, col(Selection.round_key) == col(Round.round_key))
            .where(col(Selection.credit_code) == credit_code)
        )
        for key, item, start, end in session.execute(q):
            ours.append({"kind": "selected", "round_key": key, "check_item": item,
                         "window": [start.isoformat(), end.isoformat()]})  # fmt: skip
        for entry in session.exec(
            select(ExchangeEntry).where(col(ExchangeEntry.kind).in_(RESULT_KINDS + ("retraction",)))
        ).scalars():  # type: ignore[call-overload]
            doc = json.loads(entry.body)
            if doc["body"].get("credit_code") == credit_code:
                ours.append(
                    {"kind": entry.kind, "entry": entry.entry_id, "seq": entry.seq, **doc["body"]}
                )
        theirs: list[dict[str, Any]] = []
        q2 = (
            select(PartnerEntry)
            .where(col(PartnerEntry.credit_code) == credit_code)
            .order_by(col(PartnerEntry.partner_code), col(PartnerEntry.seq))
        )
        rounds = select(PartnerEntry).where(col(PartnerEntry.kind) == "round")
        for pe in list(session.exec(q2).scalars()) + [  # type: ignore[call-overload]
            r
            for r in session.exec(rounds).scalars()  # type: ignore[call-overload]
            if _selects(json.loads(r.body)["body"], credit_code)
        ]:
            body = json.loads(pe.body)["body"]
            row = {"partner": pe.partner_code, "kind": pe.kind, "entry": pe.entry_id,
                   "seq": pe.seq, "supersedes": pe.supersedes}  # fmt: skip
            if pe.kind == "round":
                row |= {"round_key": body.get("round_key"), "check_item": body.get("check_item")}
            else:
                row |= {k: v for k, v in body.items() if k != "request"}
            theirs.append(row)
        unread = kept_unread(session)
    # entries not read may concern the enterprise too: say they are there
    return {"credit_code": credit_code, "ours": ours, "partners": theirs,
            "kept_unread": {code: {"entries": kinds, "said": said(kinds)}
                            for code, kinds in sorted(unread.items())}}  # fmt: skip


def _selects(body: dict[str, Any], credit_code: str) -> bool:
    """Whether a partner's round (its entry's body, as the partner wrote it) selected the
    enterprise. A ``selection`` that is not a list (a number made every combined view fail,
    for every enterprise; text matched any part of a code) selects nothing."""
    selection = body.get("selection")
    return isinstance(selection, list) and credit_code in selection
