"""Wire the leads into the rounds, the exchange and the public site (``shuangsui.wiring``):

* ``rounds.preflight.cause_sources``: accepted leads target their enterprise in the next round
  of their check item (the reason is in the committed frame);
* ``rounds.service.after_commit_hooks``: the leads a committed frame targets name that round;
* ``exchange.apply.case_opened_hooks``: a partner's assistance request becomes a lead;
* ``website.site.extra_file_hooks``: ``data/leads.json``, the counts by source and outcome.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlmodel import Session, col, select

logger = logging.getLogger(__name__)
_installed = False


def lead_from_assistance(session: Session, case: object) -> None:
    """An incoming assistance request (协查请求) becomes a lead, received, in the pull's own
    transaction; the request id is its ``external_ref`` so a repeated pull adds nothing. Its
    deadline is the default one (``leads.schemas.DEFAULT_DEADLINE_DAYS``)."""
    from leads import service
    from leads.models import Lead, LeadSource
    from leads.schemas import LeadIn

    ref = f"assistance:{case.requester}/{case.request_id}"  # type: ignore[attr-defined]
    service.lock_intake(session)  # before the lead's id is taken (``service.lock_intake``)
    if session.exec(select(Lead).where(col(Lead.external_ref) == ref)).first() is not None:
        return
    try:
        data = LeadIn(
            source=LeadSource.assistance_request,
            credit_code=case.credit_code,  # type: ignore[attr-defined]
            category="协查请求",
            received_on=service.dates.today(),
            confidential=False,
            reporter=f"partner {case.requester}",  # type: ignore[attr-defined]
            allegation=case.reason,  # type: ignore[attr-defined]
            external_ref=ref,
        )
    except ValueError as exc:  # a partner's bad code: the case stays, the coordinator sees it
        logger.warning("assistance request %s is not a lead: %s", ref, exc)
        return
    by = f"partner:{case.requester}"  # type: ignore[attr-defined]
    # no audit event here: the request is an entry of the partner's signed, verified log, which
    # ``external_ref`` names; the pull's transaction does not contend for the audit head
    session.add(service.new_lead(data, by=by, at=dt.datetime.now(dt.UTC)))


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from exchange.apply import case_opened_hooks
    from leads import public, targeting
    from rounds.preflight import cause_sources
    from rounds.service import after_commit_hooks
    from website.site import extra_file_hooks

    cause_sources.append(targeting.causes)
    after_commit_hooks.append(targeting.mark_targeted)
    case_opened_hooks.append(lead_from_assistance)
    extra_file_hooks.append(public.site_files)
