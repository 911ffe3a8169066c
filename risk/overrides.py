"""Overrides: a class set by hand, by one coordinator with a reason, approved by another.

Both steps are in the audit log, in the transaction that makes them. The reason is free text
(line breaks and tabs kept) without other control or invisible characters: PostgreSQL refused a
NUL with a raw ``DataError``, and a right-to-left override would turn the published reason
around. It is 1,000 characters at most, as the page's field says (a longer one was taken from
the command line, or from a post that skipped the browser's limit, and published). Only
coordinators with a live token (``shuangsui tokens create-coordinator``) may request or
approve, and the approver must not be the requester. An approved override is in force until
another approved override of the same enterprise replaces it; a pending one changes nothing.
Two requests at once are both recorded (the audit append that meets the other's at its flush is
retried, as at the commit), and of two approvals of one override at once the second is refused
as approved already. Of two overrides of one enterprise approved at once, the one the audit log
records last is in force. A classification run (``risk classify``) or a complaints import at
the same moment changes no override: an approved one wins over any run's class.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from findings.models import CoordinatorToken
from registry.models import Enterprise, RiskClass
from risk.events import RiskOverrideApproved, RiskOverrideRequested
from risk.models import OverrideStatus, RiskOverride
from rounds import audit
from shuangsui.errors import Conflict, NotFound, UserError
from shuangsui.text import REASON_MAX, no_control_in_text

T = TypeVar("T")


def _coordinator(session: Session, name: str, field: str) -> str:
    name = name.strip()
    if not name:
        raise UserError(f"{field}: name the coordinator")
    row = session.get(CoordinatorToken, name)
    if row is None or row.revoked_at is not None:
        raise UserError(f"{field}: {name!r} is not a coordinator with a live token")
    return name


def _retrying(work: Callable[[Session], T]) -> Callable[[Engine], T]:
    def run(engine: Engine) -> T:
        for _attempt in range(20):  # a concurrent audit append takes the chain's head
            with Session(engine, expire_on_commit=False) as session:
                try:  # the append meets the other at its flush (in ``work``) or at the commit
                    out = work(session)
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return out
        raise RuntimeError("could not record the override: the audit log is too busy")

    return run


def request(
    engine: Engine, *, credit_code: str, risk_class: str, reason: str, by: str
) -> RiskOverride:
    """A pending override; raises naming the parameter that is wrong."""
    try:
        cls = RiskClass(risk_class.strip().upper())
    except ValueError:
        raise UserError(f"class: must be one of A, B, C, D, not {risk_class!r}") from None
    if not reason.strip():
        raise UserError("reason: an override needs a reason (it is shown with the class)")
    if len(reason.strip()) > REASON_MAX:
        raise UserError(f"reason: at most {REASON_MAX} characters, not {len(reason.strip())} "
                        "(it is shown with the class and published)")  # fmt: skip
    try:  # published in the round's classification bundle: no character that hides or misleads
        no_control_in_text(reason)
    except ValueError as exc:
        raise UserError(f"reason: {exc}") from None

    def work(session: Session) -> RiskOverride:
        who = _coordinator(session, by, "by")
        if session.get(Enterprise, credit_code) is None:
            raise NotFound(f"credit_code: no enterprise {credit_code} in the registry")
        row = RiskOverride(credit_code=credit_code, risk_class=cls, reason=reason.strip(),
                           requested_by=who, requested_at=dt.datetime.now(dt.UTC))  # fmt: skip
        session.add(row)
        session.flush()
        assert row.id is not None
        audit.add_to(session, None, RiskOverrideRequested(row.id, credit_code, cls.value,
                                                          row.reason, who))  # fmt: skip
        return row

    return _retrying(work)(engine)


def approve(engine: Engine, override_id: int, *, by: str) -> RiskOverride:
    """Approve a pending override: it is in force from now."""

    def work(session: Session) -> RiskOverride:
        who = _coordinator(session, by, "by")
        # held until this approval commits: a second approval at once waits, then finds it
        # approved (it approved it again, its name over the first's)
        row = session.get(RiskOverride, override_id, with_for_update=True)
        if row is None:
            raise NotFound(f"override {override_id}: no such override")
        if row.status != OverrideStatus.pending:
            raise Conflict(f"override {override_id} is {row.status} already", status=row.status)
        if who == row.requested_by:
            raise UserError(
                f"by: {who} requested override {override_id}; a second coordinator must approve"
            )
        row.status, row.approved_by = OverrideStatus.approved, who
        event = RiskOverrideApproved(override_id, row.credit_code, str(row.risk_class),
                                     row.requested_by, who)  # fmt: skip
        entry = audit.add_to(session, None, event)
        # stamped as its audit entry is, once the log's head is read: of two approvals of one
        # enterprise at once, the one the log records last is in force (``overrides_in_force``
        # takes the latest ``approved_at``). Stamped before the append, an approval held
        # between the two (a slow connection) was logged after another but not in force.
        row.approved_at = entry.at
        session.add(row)
        return row

    return _retrying(work)(engine)
