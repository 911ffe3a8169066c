"""What we share beyond round records: results, corrections and retractions.

Nothing is ever deleted: a correction or retraction is a new entry naming the entry it
supersedes. Each function runs in the caller's transaction, so a result can be shared in the
same transaction that publishes it (findings may call ``publish_result`` from theirs).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlmodel import Session, col, select

from draw.canonical import canonical_json
from exchange.entries import Body
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


def result_id(round_key: str, credit_code: str, check_item: str) -> str:
    """The id of the ``result`` entry of a result: its corrections supersede it."""
    return f"result/{round_key or 'adhoc'}/{credit_code}/{check_item}"


def correction_id() -> str:
    return f"correction/{uuid.uuid4().hex[:12]}"


def correction_entry(*, supersedes: str, **fields: Any) -> NewEntry:
    return NewEntry(correction_id(), "correction", result_body(**fields), supersedes)


# a str's JSON string as ``canonical_json``'s encoder writes it (the encoder's own C function,
# called without the encoder's method around it: a publish writes six a result)
_string = json.encoder.encode_basestring


def result_body_json(
    credit_code: str, check_item: str, inspected_on: dt.date, outcome: str, round_key: str,
    summary: str,
) -> Body:  # fmt: skip
    """``result_body`` of these fields (no assistance) as canonical JSON, written straight
    from them in key order: a publish shares one a result (``exchange.hooks``). Only text is
    written so; a field of another type goes through ``result_body`` and ``canonical_json``
    (which refuses what is not JSON, as ``make_entry`` would)."""
    day = inspected_on.isoformat()
    texts = type(credit_code) is type(check_item) is type(day) is type(outcome) is str
    if not (texts and type(round_key) is type(summary) is str):
        body = result_body(credit_code=credit_code, check_item=check_item,
                           inspected_on=inspected_on, outcome=outcome, round_key=round_key,
                           summary=summary)  # fmt: skip
        return Body(canonical_json(body).decode())
    return Body(
        f'{{"check_item":{_string(check_item)},"credit_code":{_string(credit_code)},'
        f'"inspected_on":{_string(day)},"outcome":{_string(outcome)},'
        f'"round_key":{_string(round_key)},"summary":{_string(summary)}}}'
    )


def publish_result(session: Session, *, entry_id: str | None = None, **fields: Any) -> Appended:
    """Share a published inspection result (fields of ``result_body``)."""
    body = result_body(**fields)
    entry_id = entry_id or result_id(body["round_key"], body["credit_code"], body["check_item"])
    row = share(session, [NewEntry(entry_id, "result", body)])[0]
    assist = body.get("assistance")
    if assist:  # we did this inspection for a partner: our side of the case is complete
        case = session.get(AssistanceCase, (assist["requester"], assist["request_id"]))
        if case is not None:
            case.status, case.result = "completed", body | {"entry": entry_id}
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
