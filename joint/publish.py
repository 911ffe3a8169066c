"""The lead publishes a joint round's results (谁检查、谁录入、谁公开 across bureaus): one
``result`` entry per enterprise in its log, naming every participant and each bureau's
findings and inspectors.

A bureau may send its finding again (another outcome or date) after the lead published:
the next publish shares a ``correction`` superseding the result, as a bureau's own rounds do
(``exchange.hooks.share_published_results``). Its id counts the versions shared before
(``correction/<joint>/<credit code>/<n>``), so two publishes at once share it once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlmodel import Session

from exchange.log import NewEntry
from exchange.models import ExchangeEntry
from exchange.publish import result_body, share
from joint import service
from joint.models import JointRound
from joint.protocol import finding_fault
from joint.replacements import teams_now
from shuangsui.db import one_of
from shuangsui.errors import UserError


def publish_results(engine: Engine, joint: str) -> list[str]:
    """Share each enterprise's result once every participant's finding is held; a line per
    enterprise (and per finding not published) says what was done."""
    row = service.get_joint(engine, joint)
    plan = service.plan_of(row)
    if row.status != "drawn" or not row.outcome:
        raise UserError(f"joint round {joint} is not drawn")
    findings, lines = _findings(engine, row)
    codes = [p["bureau"] for p in plan["participants"]]
    ready: dict[str, dict[str, Any]] = {}
    for credit_code, by_bureau in sorted(findings.items()):
        missing = [b for b in codes if b not in by_bureau]
        if missing:
            lines.append(f"{credit_code}: waiting for the findings of {', '.join(missing)}")
        else:
            ready[credit_code] = _body(plan, joint, credit_code, by_bureau)
    with Session(engine) as session:
        shared = _shared(session, [f"result/{joint}/{code}" for code in ready])
        entries = []
        for credit_code, body in ready.items():
            first = f"result/{joint}/{credit_code}"
            before = shared.get(first, [])
            if not before:
                entries.append(NewEntry(first, "result", body))
                lines.append(f"{credit_code}: published, participants {', '.join(codes)}")
            elif before[-1] == body:
                lines.append(f"{credit_code}: already published")
            else:
                n = len(before)
                entries.append(
                    NewEntry(f"correction/{joint}/{credit_code}/{n}", "correction", body, first)
                )
                lines.append(f"{credit_code}: corrected (version {n + 1} shared)")
        share(session, entries)
        session.commit()
    return lines


def _findings(engine: Engine, row: JointRound) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """Each enterprise's findings by bureau, a bureau's latest received winning; a finding
    held before the lead checked them on receipt is checked here, and named if it fails."""
    findings: dict[str, dict[str, dict]] = {}
    lines = []
    held = service.held(engine, row.joint_key, ("finding",))
    teams = teams_now(engine, row)  # a withdrawn member's finding is not the team's (§13.7)
    for r in sorted(held, key=lambda r: (r.received_at, r.digest)):
        st = json.loads(r.envelope)["statement"]
        fault = finding_fault(teams, st)
        if fault:
            lines.append(f"a finding of {r.bureau} is not published: {fault}")
            continue
        findings.setdefault(st["credit_code"], {})[st["bureau"]] = st
    return findings, lines


def _body(
    plan: dict[str, Any], joint: str, credit_code: str, by_bureau: dict[str, dict]
) -> dict[str, Any]:
    """The shared result: the lead's outcome and date, and every participant's finding."""
    lead = by_bureau[plan["lead"]]
    body = result_body(
        credit_code=credit_code,
        check_item=plan["round"]["check_item"],
        inspected_on=dt.date.fromisoformat(lead["inspected_on"]),
        outcome=lead["outcome"],
        round_key=joint,
    )
    body["joint"] = {
        "lead": plan["lead"],
        "participants": [p["bureau"] for p in plan["participants"]],
        "findings": {
            b: {
                "outcome": s["outcome"],
                "inspectors": s["inspectors"],
                "inspected_on": s["inspected_on"],
            }
            for b, s in by_bureau.items()
        },
    }
    return body


def _shared(session: Session, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """For each result id, the bodies shared under it in log order: the result, then each
    correction superseding it."""
    if not ids:
        return {}
    e = ExchangeEntry.__table__.c  # type: ignore[attr-defined]
    q = (
        select(e.entry_id, e.supersedes, e.body)
        .where(or_(one_of(session, e.entry_id, ids), one_of(session, e.supersedes, ids)))
        .order_by(e.seq)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for entry_id, supersedes, text in session.execute(q):
        out.setdefault(supersedes or entry_id, []).append(json.loads(text)["body"])
    return out
