"""What the leads pages show, read as plain data from ``leads.service`` and
``leads.targeting.overdue`` (and the registry's names): the list, its filters and a lead."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from leads import search, service
from leads.models import SOURCE_LABELS, STATUS_LABELS, Lead, LeadStatus
from leads.targeting import overdue
from registry.models import CheckItem
from workspace.formvalues import page_of

# the list's filters: a status (its label), or open past its deadline
FILTERS = {**{s.value: STATUS_LABELS[s] for s in LeadStatus}, "overdue": "逾期"}
UNKNOWN_NAME = "（名录库中无此企业）"
# a lead of an enterprise the registry does not hold: why it cannot be accepted yet
# (``leads.service.not_in_registry``), on its page and as the refusal of its 受理
NOT_IN_REGISTRY = (
    "该企业不在检查对象名录库中：抽查从名录库抽取，名录库收录该企业之前，任何一轮抽查都不能"
    "将其列入定向检查，因此暂不能受理。名录库导入该企业后即可受理；也可以合并或不予受理。"
)
PAGE = 50  # leads on one page of the list (five years of a bureau received about 300)
# a confidential reporter as the pages say it: full-width brackets, as Chinese text is written
# (the API keeps its documented ``service.CONFIDENTIAL``, "(保密)")
CONFIDENTIAL = "（保密）"


@dataclass(frozen=True)
class LeadRow:
    id: int
    received_on: dt.date
    source: str  # its label
    name: str  # the enterprise's, from the registry
    credit_code: str
    category: str
    deadline: dt.date
    overdue: bool
    status: str  # a key of FILTERS
    status_label: str


def rows(engine: sa.Engine) -> list[LeadRow]:
    """Every lead, oldest first: by the day it was received, then by its number (the list
    shows them in the order of :func:`listing`)."""
    return _rows(engine, service.listing(engine))


def _rows(engine: sa.Engine, leads: list[Lead]) -> list[LeadRow]:
    late = {o.id for o in overdue(engine)}
    names = search.names(engine, (lead.credit_code for lead in leads))
    out = [
        LeadRow(
            lead.id or 0,
            lead.received_on,
            SOURCE_LABELS[lead.source],
            names.get(lead.credit_code, UNKNOWN_NAME),
            lead.credit_code,
            lead.category,
            lead.deadline,
            lead.id in late,
            lead.status.value,
            STATUS_LABELS[lead.status],
        )
        for lead in leads
    ]
    return sorted(out, key=lambda r: (r.received_on, r.id))


def shown(all_rows: list[LeadRow], show: str) -> list[LeadRow]:
    """The rows a filter of ``FILTERS`` keeps (every row for any other value)."""
    if show == "overdue":
        return [r for r in all_rows if r.overdue]
    return [r for r in all_rows if r.status == show] if show in FILTERS else all_rows


def found(all_rows: list[LeadRow], text: str) -> list[LeadRow]:
    """The rows a search (``?q=``, as ``workspace.overview.sought`` keeps it) finds, by
    ``leads.search.matches``: a lead's number, or a part of the credit code, the enterprise's
    name or the category; every row for no text."""
    if not text:
        return all_rows
    return [
        r
        for r in all_rows
        if search.matches(
            text, lead_id=r.id, credit_code=r.credit_code, name=r.name, category=r.category
        )  # fmt: skip
    ]


def counts(all_rows: list[LeadRow]) -> dict[str, int]:
    """How many rows each filter of ``FILTERS`` keeps."""
    return {show: len(shown(all_rows, show)) for show in FILTERS}


@dataclass(frozen=True)
class Listing:
    """A page of the list: first the open leads, the nearest deadline at the head (what still
    needs work, a lead late already first of all), then the decided, the latest received
    first; ``PAGE`` rows a page. Oldest first, after five years the list began with the first
    year's decided leads, and every lead was on one page."""

    open: list[LeadRow]  # this page's
    decided: list[LeadRow]  # this page's
    open_count: int  # of the filter's rows, on every page
    decided_count: int
    page: int  # from 1
    pages: int


def listing(all_rows: list[LeadRow], show: str, page: str) -> Listing:
    """Page ``page`` (``?page=``: the first for anything not a page number, the last for a
    number past it) of the rows a filter of ``FILTERS`` keeps, in the order of
    :class:`Listing`."""
    kept = shown(all_rows, show)
    still_open = sorted((r for r in kept if _open(r)), key=lambda r: (r.deadline, r.id))
    decided = sorted((r for r in kept if not _open(r)), key=lambda r: (r.received_on, r.id))
    ordered = still_open + decided[::-1]
    number, pages = page_of(page, len(ordered), PAGE)
    here = ordered[(number - 1) * PAGE : number * PAGE]
    return Listing([r for r in here if _open(r)], [r for r in here if not _open(r)],
                   len(still_open), len(decided), number, pages)  # fmt: skip


def _open(row: LeadRow) -> bool:
    return LeadStatus(row.status).open


def detail(engine: sa.Engine, lead: Lead) -> dict[str, Any]:
    """The lead as ``service.internal_view`` gives it (a confidential reporter not shown: said
    ``CONFIDENTIAL``), with what the page says in words: labels, the enterprise's name (and
    whether the registry holds it: ``in_registry``), lateness, the check item, the leads
    merged into it."""
    assert lead.id is not None
    late = {o.id for o in overdue(engine)}  # answers the finding gave are recorded first
    lead = service.get(engine, lead.id)
    view = service.internal_view(lead)
    if lead.confidential and view["reporter"] == service.CONFIDENTIAL:
        view["reporter"] = CONFIDENTIAL
    item = None
    if lead.check_item_code:
        with Session(engine) as db:
            item = db.get(CheckItem, lead.check_item_code)
    merged_from = [
        other.id
        for other in service.listing(engine, status=LeadStatus.merged)
        if other.merged_into == lead.id
    ]
    name = search.names(engine, [lead.credit_code]).get(lead.credit_code)
    return view | {
        "lead": lead,
        "source_label": SOURCE_LABELS[lead.source],
        "status_label": STATUS_LABELS[lead.status],
        "name": name or UNKNOWN_NAME,
        "in_registry": name is not None,
        "overdue": lead.id in late,
        "check_item_name": item.name if item else "",
        "merged_from": merged_from,
    }


def check_items(engine: sa.Engine) -> list[tuple[str, str]]:
    """The check-item list (code, name), to accept a lead for one of them."""
    with Session(engine) as db:
        items = db.exec(select(CheckItem).order_by(col(CheckItem.code))).all()
    return [(i.code, i.name) for i in items]


def merge_targets(engine: sa.Engine, lead: Lead) -> list[LeadRow]:
    """The leads this one may be merged into, by the service's own rule
    (``service.merge_refusal``: the other open leads of the same enterprise), oldest first."""
    leads = service.listing(engine)  # answers already final recorded first, as merge does
    return _rows(engine, [other for other in leads if service.merge_refusal(lead, other) is None])
