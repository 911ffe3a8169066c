"""Assistance requests to us that open no case, and why, for a person to act on.

A partner's ``assistance-request`` to us opens an incoming case only when the case can hold
it as sent (``exchange.apply``): a request id of at most ``REQUEST_ID_LENGTH`` characters
(our answer's entry id ``assistance-answer/<requester>/<request_id>`` must stay within an
id's 512, or every partner's sync of our log would stop at it), a credit code its column
holds, no NUL. The protocol has no answer that names a request without its request id, so
no answer can be sent to one that opens no case: it was only a warning in the log, and the
requesting bureau learned nothing. Each is listed, with the field and the rule, by
``partners status`` and the workspace's 执法协查 page, so a person can call the bureau.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from exchange.models import PartnerEntry
from shuangsui.text import CONTROL

CODE_LENGTH = 18  # 统一社会信用代码; the width of the credit_code columns
# The longest request id of a partner's assistance request that opens a case (shuangsui
# writes them of 17 characters): our answer's entry id (``assistance-answer/<requester>/<id>``)
# must stay within ``apply.ID_LENGTH``, or every partner's sync of our log would stop at it,
# and the lead it becomes names it in its 200-character ``external_ref``
# (``assistance:<requester>/…``).
REQUEST_ID_LENGTH = 128


@dataclass(frozen=True)
class NoCase:
    """Why a request opens no case: the field, and the rule it fails in English and Chinese."""

    field: str
    rule: str
    rule_zh: str

    def said(self) -> str:
        return f"{self.field}: {self.rule}"


def credit_code(value: Any) -> str | None:
    """A credit code from a partner's body, for the ``credit_code`` columns: text that fits
    them (18 characters at most, no control or invisible character); None otherwise. The
    entry is kept whole either way: on PostgreSQL a longer code or a NUL made the insert fail,
    and with it every sync of that partner, at the same entry, for good."""
    if isinstance(value, str) and len(value) <= CODE_LENGTH and not CONTROL.search(value):
        return value
    return None


def no_case(body: dict[str, Any]) -> NoCase | None:
    """Why the assistance request ``body`` (to us) opens no case, or None if it opens one."""
    request_id = str(body.get("request_id"))
    if len(request_id) > REQUEST_ID_LENGTH:
        return NoCase("request_id", f"{len(request_id)} characters, at most "
                      f"{REQUEST_ID_LENGTH}", f"{len(request_id)} 个字符，"
                      f"超过 {REQUEST_ID_LENGTH} 个")  # fmt: skip
    if credit_code(body.get("credit_code")) is None:
        return NoCase("credit_code", f"text of at most {CODE_LENGTH} characters without a "
                      "control or invisible character is needed", f"须为不超过 {CODE_LENGTH} "
                      "个字符、不含控制或不可见字符的文本")  # fmt: skip
    for name in ("request_id", "check_item", "reason"):
        if "\x00" in str(body.get(name, "")):  # PostgreSQL's text cannot hold it
            return NoCase(name, "holds a NUL", "含有空字符（NUL）")
    return None


@dataclass(frozen=True)
class Unopened:
    """A partner's assistance request to us that opened no case."""

    partner: str
    seq: int
    entry_id: str
    why: NoCase

    def said(self) -> str:
        """One line for ``partners status`` and the log."""
        return (f"assistance request of entry {self.seq} ({self.entry_id}) opens no case: "
                f"{self.why.said()}; no answer can name it (an answer carries its request "
                f"id): tell {self.partner}'s operators")  # fmt: skip


def unopened(session: Session, us: str) -> list[Unopened]:
    """Every partner's assistance request to us (``us``, our bureau code) that opened no
    case, by partner and entry. Assistance requests are few: each is read whole."""
    rows = session.execute(
        select(col(PartnerEntry.partner_code), col(PartnerEntry.seq),
               col(PartnerEntry.entry_id), col(PartnerEntry.body))
        .where(col(PartnerEntry.kind) == "assistance-request")
        .order_by(col(PartnerEntry.partner_code), col(PartnerEntry.seq))
    ).all()  # fmt: skip
    found = []
    for code, seq, entry_id, leaf in rows:
        body = json.loads(leaf)["body"]
        if body.get("to") == us and (why := no_case(body)) is not None:
            found.append(Unopened(code, seq, entry_id, why))
    return found
