"""Intake and triage of leads; every step in the caller's audit log.

Triage: a received lead is accepted with a check item (it then waits for that item's next round,
``leads.targeting``), merged into another lead of the same enterprise, or rejected with a
reason. A decision is final: deciding again is refused with what was decided.

A lead of an enterprise the registry does not hold is received (a report is a report), and
said so (:func:`in_registry`); it is not accepted until the registry takes the enterprise in,
since a round's frame is drawn from the registry and could never target it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from findings import dates
from leads import events, targeting
from leads.models import Lead, LeadSource, LeadStatus
from leads.schemas import LeadIn
from registry.models import (
    Certificate,
    CheckItem,
    Enterprise,
    EnterpriseStatus,
    certificate_kind_label,
    certificate_status_label,
)
from rounds import audit
from rounds.frames import classes_in_force
from rounds.plans import in_jurisdiction
from shuangsui.config import get_settings
from shuangsui.errors import Conflict, NotFound, UserError
from shuangsui.text import no_control_in_text
from shuangsui.writes import write

logger = logging.getLogger(__name__)
# whether the writer may still write, run first in each step's transaction (a coordinator's
# token revoked since the request was let in: ``api.auth.still_allowed``); it raises to refuse
Allowed = Callable[[Session], None] | None


# The advisory lock every lead's intake holds on PostgreSQL (``lock_intake``): "SSLD", another
# key than the partner log's "SSEX" (``exchange.log.LOCK_KEY``)
INTAKE_LOCK = 0x5353_4C44


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def lock_intake(session: Session) -> None:
    """Take the leads' intake lock for the rest of the session's transaction; every path that
    records a lead (``receive``, ``leads.importer``, ``leads.hooks``) takes it before a lead's
    id is taken. Ids come from a sequence on PostgreSQL, handed out at insert, not at commit:
    a lead whose id was taken first but whose transaction committed last could appear behind
    the cursor of a program polling ``GET /leads?after=`` (oldest first), and be missed. Held
    until commit, the lock makes ids committed in order, so a poll that walks on from its
    last ``after`` sees every lead. One lock a transaction: an import of thousands of rows
    takes it once. SQLite needs none: it has one writer at a time, holding the database's
    write lock from its first write to its commit, so its ids are committed in order too."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INTAKE_LOCK})


def new_row(
    data: LeadIn, *, by: str, at: dt.datetime, today: dt.date | None = None
) -> dict[str, Any]:
    """A new lead's columns (the others take their defaults), refused when it was received in
    the future, after ``today`` (default: today in the bureau's zone). ``leads.importer``
    inserts thousands of these at once, with no ``Lead`` each, and works its day out once."""
    if data.received_on > (today or dates.today()):
        raise UserError(f"received_on: {data.received_on} is in the future")
    return data.model_dump() | {"created_by": by, "created_at": at, "updated_at": at}


def new_lead(data: LeadIn, *, by: str, at: dt.datetime) -> Lead:
    return Lead.model_validate(new_row(data, by=by, at=at))


@dataclass(frozen=True)
class Recorded:
    """A lead ``leads.importer`` inserted with no ``Lead`` built: its id and the columns
    :func:`received_event` reads, as :func:`new_row` gave them."""

    id: int
    source: LeadSource
    credit_code: str
    category: str
    deadline: dt.date
    created_by: str


def received_event(lead: Lead | Recorded) -> events.LeadReceived:
    """A recorded lead's event: of a ``Lead``, or of one inserted in bulk (:class:`Recorded`)."""
    assert lead.id is not None
    return events.LeadReceived(lead.id, lead.source.value, lead.credit_code, lead.category,
                               lead.deadline.isoformat(), lead.created_by)  # fmt: skip


def receive(engine: Engine, data: LeadIn, *, by: str, allowed: Allowed = None) -> Lead:
    """Record a lead. The same ``external_ref`` again returns the lead already recorded (a
    retried request); with another lead's details it is refused (:func:`same_lead`)."""

    def work(session: Session) -> Lead:
        lock_intake(session)
        if data.external_ref and (same := _by_ref(session, data.external_ref)):
            return same_lead(same, data)
        lead = new_lead(data, by=by, at=now())
        session.add(lead)
        session.flush()  # a concurrent insert of the same external_ref fails here: tried again
        audit.add_to(session, None, received_event(lead))
        return lead

    lead = write(engine, work, what="the lead", allowed=allowed)
    logger.info("lead %s received (%s, %s)", lead.id, lead.source.value, lead.credit_code)
    if not in_registry(engine, lead.credit_code):
        logger.warning("lead %s: %s", lead.id, not_in_registry(lead.credit_code))
    return lead


def in_registry(engine: Engine, credit_code: str) -> bool:
    """Whether the registry holds the enterprise: only then can a round's frame target it."""
    with Session(engine) as session:
        return session.get(Enterprise, credit_code) is not None


def not_in_registry(credit_code: str) -> str:
    """Why a lead of an enterprise the registry does not hold waits (``credit_code: why``)."""
    return (
        f"credit_code: {credit_code} is not in the registry of enterprises, so no round can "
        "target it; accept the lead once the registry holds the enterprise, or merge or "
        "reject it"
    )


# what makes a lead the one a sender means (its deadline is the bureau's term, worked out from
# the receipt when none is given, so it is not compared)
ASKED = ("source", "credit_code", "category", "received_on", "confidential", "reporter",
         "allegation")  # fmt: skip


def same_lead(lead: Lead, data: LeadIn) -> Lead:
    """``lead``, recorded under ``data``'s reference, if ``data`` asks for that lead; else a
    409 naming what differs. A reference reused for another lead (another enterprise, say)
    was answered 201 with the first, and the second was never recorded, unsaid."""
    differ = [f for f in ASKED if getattr(lead, f) != getattr(data, f)]
    if differ:
        raise Conflict(
            f"external_ref: {data.external_ref} is lead {lead.id} already, which differs in "
            f"{', '.join(differ)}; give another lead a reference of its own",
            lead=lead.id,
        )
    return lead


def _by_ref(session: Session, ref: str) -> Lead | None:
    return session.exec(select(Lead).where(col(Lead.external_ref) == ref)).first()


def get(engine: Engine, lead_id: int) -> Lead:
    with Session(engine, expire_on_commit=False) as session:
        lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} does not exist")
    return lead


# a decision's change: ``change(session, lead, locked)`` -> its audit event, or the refusal to
# raise once what it recorded meanwhile is committed (``locked``: the leads locked, by id)
Change = Callable[[Session, Lead, dict[int, Lead]], object]


def _decide(
    engine: Engine, lead_id: int, change: Change, *, also: int | None = None,
    allowed: Allowed = None,
) -> Lead:  # fmt: skip
    """Run ``change`` on a received lead, with its audit event, in one write
    (``shuangsui.writes.write``: a writer that collided with another, on the audit log's head or
    in a PostgreSQL deadlock or serialization failure, is tried again from the start). The lead,
    and the lead ``also`` that ``change`` reads, are locked before they are read, until the
    commit (``leads.targeting.lock``: in the order of their ids, as every writer of leads takes
    them): a decision made meanwhile is waited for and seen."""

    def work(session: Session) -> Lead | UserError:
        locked = targeting.lock(session, {lead_id} | ({also} if also is not None else set()))
        lead = locked.get(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id} does not exist")
        if lead.status is not LeadStatus.received:
            raise Conflict(
                f"lead {lead_id} was triaged already: {lead.status.value}"
                + (f" by {lead.decided_by}" if lead.decided_by else ""),
                lead_status=lead.status.value,
            )
        event = change(session, lead, locked)
        if isinstance(event, UserError):
            return event
        lead.updated_at = now()
        session.add(lead)
        audit.add_to(session, None, event)
        return lead

    done = write(engine, work, what=f"lead {lead_id}", allowed=allowed)
    if isinstance(done, UserError):
        raise done
    logger.info("lead %s %s by %s", lead_id, done.status.value, done.decided_by)
    return done


def _reason(reason: str, *, required: bool) -> str:
    reason = reason.strip()
    if required and not reason:
        raise UserError("reason: give the reason (it is part of the audit record)")
    if len(reason) > 1000:
        raise UserError("reason: at most 1000 characters")
    try:  # as every reason: a NUL failed PostgreSQL's insert (a 500), an override was stored
        return no_control_in_text(reason)
    except ValueError as exc:
        raise UserError(f"reason: {exc}") from None


ENTERPRISE_STATUS_CHINESE = {
    EnterpriseStatus.deregistered: "注销",
    EnterpriseStatus.revoked: "吊销",
}


@dataclass(frozen=True)
class OutOfReach:
    """Why no round of a check item can ever target an enterprise the registry holds: a
    round's frame takes only active enterprises holding a certificate of a kind the check item
    covers, in divisions of this bureau's jurisdiction (its plans' divisions must be). Said in
    English (``field: reason``, the API and the command line) and in Chinese (the workspace)."""

    english: str
    chinese: str


def out_of_reach(session: Session, credit_code: str, check_item: CheckItem) -> OutOfReach | None:
    """Why no round of ``check_item`` can target ``credit_code`` (held by the registry), or
    None when a round's population may take it."""
    firm = session.get(Enterprise, credit_code)
    if firm is None:
        return None
    after = "accept the lead once the registry says otherwise, or merge or reject it"
    status = EnterpriseStatus(firm.status)
    if status is not EnterpriseStatus.active:
        said = ENTERPRISE_STATUS_CHINESE.get(status, status.value)
        return OutOfReach(
            f"credit_code: {credit_code} is {status.value} in the registry of enterprises, not "
            f"active, so no round can target it; {after}",
            f"该企业在检查对象名录库中的状态为“{said}”，不是存续：抽查只从存续的企业中抽取，"
            "任何一轮抽查都不能将其列入定向检查，因此暂不能受理。可以合并或不予受理。",
        )
    bureau = get_settings().bureau_code
    if not in_jurisdiction(firm.division_code, bureau):
        return OutOfReach(
            f"credit_code: {credit_code} lies in division {firm.division_code}, outside this "
            f"bureau's jurisdiction {bureau}, so no round of ours can target it; refer it to "
            "the bureau of that division, or merge or reject it",
            f"该企业所在行政区划 {firm.division_code} 不在本局辖区 {bureau} 内：本局的抽查只从"
            "辖区内的企业中抽取，任何一轮抽查都不能将其列入定向检查，因此不能受理。"
            "请移送该区划的监管部门，或合并、不予受理。",
        )
    kinds = sorted(str(k) for k in check_item.cert_kinds)
    q = select(Certificate.kind).where(col(Certificate.credit_code) == credit_code)
    held = sorted({str(kind) for kind in session.exec(q)})
    if not set(kinds) & set(held):
        holds = f"it holds {', '.join(held)}" if held else "it holds none"
        return OutOfReach(
            f"check_item: {check_item.code} covers {', '.join(kinds) or 'no'} certificates and "
            f"{credit_code} holds none of them ({holds}), so no round of {check_item.code} can "
            f"target it; accept the lead for a check item of a certificate it holds, or once "
            f"the registry holds such a certificate, or merge or reject it",
            f"检查事项 {check_item.code}（{check_item.name}）检查的认证类别为"
            f"{'、'.join(certificate_kind_label(k) for k in kinds) or '（无）'}，名录库中该企业"
            "没有这类证书：这一事项的抽查不能将其列入定向检查，因此不能按这一事项受理。"
            "请选择该企业所持证书的检查事项，或合并、不予受理。",
        )
    return None


def unreachable(engine: Engine, credit_code: str, check_item: str) -> OutOfReach | None:
    """:func:`out_of_reach` for the check item of code ``check_item`` (None when there is no
    such item: ``accept`` refuses that)."""
    with Session(engine) as session:
        item = session.get(CheckItem, check_item)
        return None if item is None else out_of_reach(session, credit_code, item)


def outside_plan(session: Session, lead: Lead, plan: Mapping[str, Any]) -> OutOfReach | None:
    """Why the population of ``plan`` (parsed: ``rounds.plans.load_plan_text``) cannot take
    the enterprise of ``lead``, or None when it can: the urgent lead's ad hoc round of that
    plan would not target it, and the lead would wait unsaid. The rules are the frame's
    (``rounds.frames.enterprise_rows``, ``draw.frame.build_enterprise_frame``): an active
    enterprise, in one of the plan's divisions, holding a certificate of a kind and status the
    plan covers, of one of its risk classes and of one of its industries when the plan is
    directed to some. The class is the one in force, as the frame reads it
    (``rounds.frames.classes_in_force`` over the registry's): a classification or an approved
    override moves an enterprise into or out of a directed plan's classes."""
    code, pop = lead.credit_code, plan["population"]
    firm = session.get(Enterprise, code)
    if firm is None:
        return None  # not accepted at all (not_in_registry)
    status = EnterpriseStatus(firm.status)
    kinds, statuses = sorted(pop["cert_kinds"]), sorted(pop["cert_statuses"])
    q = select(Certificate.kind, Certificate.status).where(col(Certificate.credit_code) == code)
    held = sorted({(str(k), str(st)) for k, st in session.exec(q)})
    if status is not EnterpriseStatus.active:
        said = ENTERPRISE_STATUS_CHINESE.get(status, status.value)
        why = (f"it is {status.value} in the registry of enterprises, not active",
               f"该企业在名录库中的状态为“{said}”，不是存续")  # fmt: skip
    elif not any(firm.division_code.startswith(d) for d in pop["divisions"]):
        why = (f"it lies in division {firm.division_code}, outside the plan's divisions "
               f"{', '.join(pop['divisions'])}",
               f"其所在行政区划 {firm.division_code} 不在该计划的区划 "
               f"{'、'.join(pop['divisions'])} 内")  # fmt: skip
    elif not any(k in kinds and st in statuses for k, st in held):
        has = ", ".join(f"{k} {st}" for k, st in held) or "none"
        why = (f"the plan takes enterprises holding a {' or '.join(kinds)} certificate that is "
               f"{' or '.join(statuses)}, and it holds none (it holds: {has})",
               f"该计划只抽查持有{'、'.join(certificate_kind_label(k) for k in kinds)}证书且"
               f"证书状态为{'、'.join(certificate_status_label(st) for st in statuses)}的企业，"
               "该企业没有这样的证书")  # fmt: skip
    elif (
        pop["directed"]
        and pop["risk_classes"]
        and ((risk := _class_in_force(session, firm)) not in pop["risk_classes"])
    ):
        why = (f"the plan is directed to risk classes {', '.join(pop['risk_classes'])} and its "
               f"class in force is {risk}",
               f"该计划定向抽查信用风险分类 {'、'.join(pop['risk_classes'])}，该企业现行的"
               f"风险分类为 {risk}")  # fmt: skip
    elif pop["directed"] and pop["industries"] and firm.industry not in pop["industries"]:
        why = (f"the plan is directed to industries {', '.join(pop['industries'])} and its "
               f"industry is {firm.industry or 'not recorded'}",
               f"该计划定向抽查行业 {'、'.join(pop['industries'])}，该企业的行业为"
               f"{firm.industry or '（未登记）'}")  # fmt: skip
    else:
        return None
    return OutOfReach(
        f"adhoc_plan: plan {plan['id']} cannot draw the enterprise {code} of lead {lead.id}: "
        f"{why[0]}; its ad hoc round would not target the enterprise and the lead would wait: "
        "choose a plan whose population takes it, or accept the lead without an ad hoc round",
        f"紧急临时抽查的计划 {plan['id']} 不能抽到线索 {lead.id} 的企业 {code}：{why[1]}。"
        "这一轮临时抽查不会将其列入定向检查，线索将一直等待。请选择抽查范围包含该企业的计划，"
        "或只受理、不发起临时抽查。",
    )


def _class_in_force(session: Session, firm: Enterprise) -> str:
    """The enterprise's risk class as a frame read now would give it: a source's class
    (classification, approved override) over the registry's."""
    read = classes_in_force(session.connection())
    return str(read.classes.get(firm.credit_code) or firm.risk_class)


def plan_misses(engine: Engine, lead: Lead, plan: Mapping[str, Any]) -> OutOfReach | None:
    """:func:`outside_plan` in a session of its own."""
    with Session(engine) as session:
        return outside_plan(session, lead, plan)


def accept(
    engine: Engine, lead_id: int, *, check_item: str, by: str, reason: str = "",
    urgent: bool = False, allowed: Allowed = None, adhoc_plan: Mapping[str, Any] | None = None,
) -> Lead:  # fmt: skip
    """Accept for ``check_item``: the next committed round of that item targets the enterprise
    (an urgent lead: the ad hoc round the coordinator starts for it). A lead of an enterprise
    the registry does not hold is refused (:func:`not_in_registry`): no frame could take it;
    so is an urgent lead whose ad hoc round's plan (``adhoc_plan``, parsed) cannot draw its
    enterprise (:func:`outside_plan`)."""
    reason = _reason(reason, required=False)

    def change(session: Session, lead: Lead, _locked: dict[int, Lead]) -> events.LeadAccepted:
        item = session.get(CheckItem, check_item)
        if item is None:
            raise UserError(f"check_item: {check_item!r} is not in the check-item list")
        if session.get(Enterprise, lead.credit_code) is None:
            raise UserError(not_in_registry(lead.credit_code))
        if far := out_of_reach(session, lead.credit_code, item):
            raise UserError(far.english)
        if adhoc_plan is not None and (miss := outside_plan(session, lead, adhoc_plan)):
            raise UserError(miss.english)
        lead.status, lead.check_item_code, lead.urgent = LeadStatus.accepted, check_item, urgent
        lead.decision_reason, lead.decided_by = reason, by
        assert lead.id is not None
        return events.LeadAccepted(lead.id, check_item, urgent, reason, by)

    return _decide(engine, lead_id, change, allowed=allowed)


OPEN = tuple(s for s in LeadStatus if s.open)


def merge_refusal(lead: Lead, other: Lead) -> str | None:
    """Why ``lead`` may not be merged into ``other`` (``into: reason``), or None when it may.

    The other lead must be another **open** lead (received, accepted or targeted) of the same
    enterprise: it carries the merged report on, to its triage or into its round. An answered
    lead's check is over (its finding was made without this report), a rejected one was refused
    for reasons of its own and a merged one carries nothing on: a report merged into any of them
    would be closed unread, so it is triaged on its own instead. The workspace offers as merge
    targets exactly the leads this allows (``workspace.leadviews.merge_targets``)."""
    if other.id == lead.id:
        return "into: a lead cannot be merged into itself"
    if not other.status.open:
        allowed = ", ".join(s.value for s in OPEN)
        return f"into: lead {other.id} is {other.status.value}; merge into an open lead ({allowed})"
    if other.credit_code != lead.credit_code:
        return f"into: lead {other.id} concerns {other.credit_code}, not {lead.credit_code}"
    return None


def merge(
    engine: Engine, lead_id: int, *, into: int, by: str, reason: str = "", allowed: Allowed = None
) -> Lead:
    """Merge into another open lead of the same enterprise (:func:`merge_refusal`): the other
    one carries on. The rule is decided in the merge's transaction, which holds both leads'
    locks, on the other lead's finding as it is then: a targeted lead whose finding is final
    (made final a moment ago, no list read since) is recorded answered there, and refuses."""
    reason = _reason(reason, required=False)

    def change(session: Session, lead: Lead, locked: dict[int, Lead]) -> object:
        other = locked.get(into)
        if other is None:
            return UserError(f"into: lead {into} does not exist")
        targeting.answer(session, [other])  # committed even when it refuses the merge
        if refused := merge_refusal(lead, other):
            return UserError(refused)
        lead.status, lead.merged_into = LeadStatus.merged, into
        lead.decision_reason, lead.decided_by = reason, by
        assert lead.id is not None
        return events.LeadMerged(lead.id, into, reason, by)

    return _decide(engine, lead_id, change, also=into, allowed=allowed)


def reject(engine: Engine, lead_id: int, *, reason: str, by: str, allowed: Allowed = None) -> Lead:
    reason = _reason(reason, required=True)

    def change(session: Session, lead: Lead, _locked: dict[int, Lead]) -> events.LeadRejected:
        lead.status, lead.decision_reason, lead.decided_by = LeadStatus.rejected, reason, by
        assert lead.id is not None
        return events.LeadRejected(lead.id, reason, by)

    return _decide(engine, lead_id, change, allowed=allowed)


def listing(engine: Engine, *, status: LeadStatus | None = None) -> list[Lead]:
    targeting.sync_answers(engine)
    with Session(engine, expire_on_commit=False) as session:
        q = select(Lead).order_by(col(Lead.id))
        if status is not None:
            q = q.where(col(Lead.status) == status)
        return list(session.exec(q).all())


# a confidential reporter in ``internal_view``: the API's value (docs/leads.md), kept as it is
CONFIDENTIAL = "(保密)"


def internal_view(lead: Lead) -> dict[str, Any]:
    """A lead as the bureau's coordinators see it: a confidential reporter is not shown."""
    out = lead.model_dump(mode="json")
    if lead.confidential:
        out["reporter"] = CONFIDENTIAL if lead.reporter else ""
    return out
