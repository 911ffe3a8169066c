"""The coordinator's lead routes: intake, listing, triage, overdue (``/leads``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api import paging
from api.auth import Principal, Role, allow, still_allowed
from api.bodies import OnceEachKey
from api.problems import PROBLEM_RESPONSES, Problem
from leads import service, targeting
from leads.models import Lead, LeadStatus
from leads.schemas import LeadIn
from shuangsui.keys import ROW_ID_MAX, PlanRef

router = APIRouter(prefix="/leads", tags=["leads"], responses=PROBLEM_RESPONSES)
Coordinator = Annotated[Principal, Depends(allow(Role.coordinator))]
LeadId = Annotated[int, PathParam(ge=1, le=ROW_ID_MAX)]
Reason = Field(default="", max_length=1000, description="why (audited)")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcceptBody(_Body):
    check_item: str = Field(min_length=1, max_length=64, description="the check item answering it")
    reason: str = Reason
    urgent: bool = False
    adhoc_plan: PlanRef | None = Field(
        default=None,
        description="urgent: start an ad hoc round of this plan (its check item) at once",
    )


class MergeBody(_Body):
    into: int = Field(ge=1, le=ROW_ID_MAX, description="the lead that carries on")
    reason: str = Reason


class RejectBody(_Body):
    reason: str = Field(min_length=1, max_length=1000, description="why (audited)")


@router.post("", status_code=201)
def receive(body: LeadIn, request: Request, who: Coordinator, once: OnceEachKey) -> dict[str, Any]:
    """Record a lead (the same ``external_ref`` again returns the lead already recorded; with
    another lead's details, 409 naming that lead). ``in_registry`` false: the registry does
    not hold the enterprise, and the lead cannot be accepted until it does."""
    engine = request.app.state.engine
    lead = service.receive(engine, body, by=who.name,
                           allowed=still_allowed(request, who))  # fmt: skip
    return _with_registry(engine, lead)


def _with_registry(engine: Engine, lead: Lead) -> dict[str, Any]:
    """The lead's internal view, and whether the registry holds its enterprise (only then
    may it be accepted: ``service.not_in_registry``)."""
    return service.internal_view(lead) | {
        "in_registry": service.in_registry(engine, lead.credit_code)
    }


@router.get("", responses={200: {"headers": paging.NEXT_LINK}})
def list_leads(
    request: Request,
    response: Response,
    who: Coordinator,
    once: paging.OnceEachParameter,
    status: Annotated[LeadStatus | None, Query()] = None,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: paging.After = None,
) -> list[dict[str, Any]]:
    """The leads, oldest first, ``limit`` a page (``api.paging``); a confidential reporter is
    shown as (保密). Oldest first, as before pages: a lead received during a walk of the pages
    comes on its last page, so a program that keeps the last page's ``Link`` finds the leads
    received since. (A person's list, open leads first by deadline, is the workspace's.)"""
    start = paging.decode(after, (int,))
    engine = request.app.state.engine
    targeting.sync_answers(engine)  # as ``service.listing``: an answered lead says so
    stmt = select(Lead).order_by(col(Lead.id)).limit(limit + 1)
    if status is not None:
        stmt = stmt.where(col(Lead.status) == status)
    if start is not None:
        stmt = stmt.where(paging.after_key([col(Lead.id)], start))
    with Session(engine) as session:
        leads = session.exec(stmt).all()
    here = paging.page(leads, limit, lambda lead: (lead.id,), request, response,
                       status=status.value if status else None)  # fmt: skip
    return [service.internal_view(lead) for lead in here]


@router.get("/overdue")
def overdue(request: Request, who: Coordinator) -> list[dict[str, Any]]:
    """Open leads (received, accepted, targeted) past their deadline."""
    from leads.targeting import overdue as overdue_leads

    return [dataclasses.asdict(i) | {"deadline": i.deadline.isoformat()}
            for i in overdue_leads(request.app.state.engine)]  # fmt: skip


@router.get("/{lead_id}")
def get_lead(lead_id: LeadId, request: Request, who: Coordinator) -> dict[str, Any]:
    """The lead; ``in_registry`` as ``POST /leads`` answers it."""
    engine = request.app.state.engine
    return _with_registry(engine, service.get(engine, lead_id))


def urgent_round(lead: Lead, plan: str, by: str) -> dict[str, Any]:
    """The ad hoc runner's parameters for an urgent lead's round (the API's and the workspace's
    ``app.state.adhoc_runner``)."""
    return {"plan": plan, "requested_by": by,
            "reason": f"线索 {lead.id} 紧急定向检查: {lead.category}"}  # fmt: skip


def _check_plan(request: Request, plan: str, check_item: str) -> dict[str, Any]:
    """The urgent lead's plan, parsed, once it is of the check item accepted (``service.accept``
    then checks that its population takes the lead's enterprise)."""
    from rounds.plans import found_plan, load_plan_text

    settings = request.app.state.settings
    _, text = found_plan(settings.plans_dir, plan)
    parsed, _ = load_plan_text(text, source=plan)
    if parsed["check_item"] != check_item:
        raise Problem(422, f"adhoc_plan: plan {plan} checks {parsed['check_item']}, not "
                      f"{check_item}", slug="invalid-request")  # fmt: skip
    return parsed


@router.post("/{lead_id}/accept", status_code=200)
def accept(
    lead_id: LeadId, body: AcceptBody, request: Request, who: Coordinator, once: OnceEachKey
) -> dict:
    """Accept for a check item: the next committed round of that item targets the enterprise;
    with ``adhoc_plan`` (urgent), an ad hoc round of that plan starts now and takes it (a plan
    whose population cannot take the enterprise is refused, 422 naming the lead, the
    enterprise and why, and nothing is accepted)."""
    engine = request.app.state.engine
    plan = None
    if body.adhoc_plan is not None:
        if not body.urgent:
            raise Problem(422, "adhoc_plan: only for an urgent lead (urgent: true)",
                          slug="invalid-request")  # fmt: skip
        plan = _check_plan(request, body.adhoc_plan, body.check_item)
    lead = service.accept(engine, lead_id, check_item=body.check_item, reason=body.reason,
                          urgent=body.urgent, by=who.name, adhoc_plan=plan,
                          allowed=still_allowed(request, who))  # fmt: skip
    out = service.internal_view(lead)
    if body.adhoc_plan is not None:
        params = urgent_round(lead, body.adhoc_plan, who.name)
        out["adhoc"] = dict(request.app.state.adhoc_runner(params))
    return out


@router.post("/{lead_id}/merge")
def merge(
    lead_id: LeadId, body: MergeBody, request: Request, who: Coordinator, once: OnceEachKey
) -> dict:
    """Merge into another open lead of the same enterprise."""
    lead = service.merge(request.app.state.engine, lead_id, into=body.into, reason=body.reason,
                         by=who.name, allowed=still_allowed(request, who))  # fmt: skip
    return service.internal_view(lead)


@router.post("/{lead_id}/reject")
def reject(
    lead_id: LeadId, body: RejectBody, request: Request, who: Coordinator, once: OnceEachKey
) -> dict:
    """Reject with a reason."""
    lead = service.reject(request.app.state.engine, lead_id, reason=body.reason, by=who.name,
                          allowed=still_allowed(request, who))  # fmt: skip
    return service.internal_view(lead)
