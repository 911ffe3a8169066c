"""What we share beyond round records: results, corrections and retractions.

Nothing is ever deleted: a correction or retraction is a new entry naming the entry it
supersedes. Each function runs in the caller's transaction, so a result can be shared in the
same transaction that publishes it (findings may call ``publish_result`` from theirs).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlmodel import Session, col, select

from exchange.log import Appended, NewEntry, append, append_many
from exchange.models import AssistanceCase, ExchangeEntry
from exchange.settings import origin_of
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from shuangsui.text import no_control_in_text


def shared_text(field: str, value: str, *, required: bool = False) -> str:
    """Free text shared in our log (a reason, a summary): signed, kept for ever, read by every
    partner. Line breaks and tabs are text; any other control or invisible character is
    refused naming ``field`` (a U+202E turned a reason around, an ESC reached a partner's
    terminal, and nothing in the log can be taken back); ``required``: not blank either."""
    if required and not value.strip():
        raise UserError(f"{field}: say why (it is shared with every partner, for good)")
    try:
        return no_control_in_text(value)
    except ValueError as exc:
        raise UserError(f"{field}: {exc}") from None


def _origin() -> str:
    return origin_of(get_settings().bureau_code)


def share(session: Session, entries: list[NewEntry]) -> list[Appended]:
    """Append ``entries`` to our log, in the caller's transaction."""
    return append_many(session, origin=_origin(), entries=entries)


def result_body(
    *, credit_code: str, check_item: str, inspected_on: dt.date, outcome: str,
    round_key: str = "", summary: str = "", assistance: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "credit_code": credit_code, "check_item": check_item,
        "inspected_on": inspected_on.isoformat(), "outcome": outcome,
        "round_key": round_key, "summary": summary,
    }  # fmt: skip
    if assistance:
        body["assistance"] = {"requester": assistance["requester"],
                              "request_id": assistance["request_id"]}  # fmt: skip
    return body


def result_entry(*, entry_id: str | None = None, **fields: Any) -> NewEntry:
    """The ``result`` entry for a published inspection result (fields of ``result_body``)."""
    body = result_body(**fields)
    entry_id = (
        entry_id
        or f"result/{body['round_key'] or 'adhoc'}/{body['credit_code']}/{body['check_item']}"
    )
    return NewEntry(entry_id, "result", body)


def correction_entry(*, supersedes: str, **fields: Any) -> NewEntry:
    return NewEntry(f"correction/{uuid.uuid4().hex[:12]}", "correction", result_body(**fields),
                    supersedes)  # fmt: skip


def publish_result(session: Session, *, entry_id: str | None = None, **fields: Any) -> Appended:
    """Share a published inspection result (fields of ``result_body``)."""
    entry = result_entry(entry_id=entry_id, **fields)
    row = share(session, [entry])[0]
    assist = entry.body.get("assistance")
    if assist:  # we did this inspection for a partner: our side of the case is complete
        case = session.get(AssistanceCase, (assist["requester"], assist["request_id"]))
        if case is not None:
            case.status, case.result = "completed", entry.body | {"entry": entry.entry_id}
            case.updated_at = dt.datetime.now(dt.UTC)
            session.add(case)
    return row


def correct_result(session: Session, *, supersedes: str, **fields: Any) -> Appended:
    entry = correction_entry(supersedes=supersedes, **fields)
    return share(session, [entry])[0]


def retract(session: Session, *, supersedes: str, reason: str) -> Appended:
    """A retraction of our entry ``supersedes``, shared for good: refused when the entry is
    retracted already (a second would say nothing new, in a log every partner keeps)."""
    reason = shared_text("reason", reason, required=True)
    earlier = session.exec(
        select(ExchangeEntry.entry_id).where(
            col(ExchangeEntry.kind) == "retraction", col(ExchangeEntry.supersedes) == supersedes
        )
    ).first()
    if earlier is not None:
        raise UserError(f"entry {supersedes} is retracted already (by {earlier}): nothing to add")
    return append(session, origin=_origin(), entry_id=f"retraction/{uuid.uuid4().hex[:12]}",
                  kind="retraction", body={"reason": reason}, supersedes=supersedes)  # fmt: skip
