"""What the public learns of leads: how many, by source and by outcome. Nothing else (no
enterprise, no category, no reporter, no allegation)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from leads.models import SOURCE_LABELS, STATUS_LABELS, Lead, LeadSource, LeadStatus
from leads.targeting import sync_answers

DATA_FILE = "data/leads.json"


def counts(engine: Engine) -> dict[str, Any]:
    """``{"v": 1, "total", "outcomes": {status: label}, "sources": [{source, label,
    total, outcomes: {status: n}}]}``, every source and outcome listed (zeros included)."""
    sync_answers(engine)
    q = select(col(Lead.source), col(Lead.status), func.count()).group_by(
        col(Lead.source), col(Lead.status)
    )
    with engine.connect() as conn:
        tally = {(LeadSource(s), LeadStatus(t)): n for s, t, n in conn.execute(q)}
    sources = []
    for source in LeadSource:
        outcomes = {status.value: tally.get((source, status), 0) for status in LeadStatus}
        sources.append({"source": source.value, "label": SOURCE_LABELS[source],
                        "total": sum(outcomes.values()), "outcomes": outcomes})  # fmt: skip
    return {
        "v": 1,
        "total": sum(tally.values()),
        "outcomes": {status.value: STATUS_LABELS[status] for status in LeadStatus},
        "sources": sources,
    }


def site_files(engine: Engine) -> dict[str, bytes]:
    """The public site's file of lead counts (website.site.extra_file_hooks)."""
    body = json.dumps(counts(engine), ensure_ascii=False, sort_keys=True, indent=1)
    return {DATA_FILE: body.encode() + b"\n"}
