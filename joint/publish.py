"""The lead publishes a joint round's results (谁检查、谁录入、谁公开 across bureaus): one
``result`` entry per enterprise in its log, naming every participant and each bureau's
findings and inspectors."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Engine
from sqlmodel import Session

from exchange.log import NewEntry
from exchange.publish import result_body, share
from joint import service
from shuangsui.errors import UserError


def publish_results(engine: Engine, joint: str) -> list[str]:
    row = service.get_joint(engine, joint)
    plan = service.plan_of(row)
    if row.status != "drawn" or not row.outcome:
        raise UserError(f"joint round {joint} is not drawn")
    findings: dict[str, dict[str, dict]] = {}
    for r in service.held(engine, joint, ("finding",)):
        st = json.loads(r.envelope)["statement"]
        findings.setdefault(st["credit_code"], {})[st["bureau"]] = st
    codes = [p["bureau"] for p in plan["participants"]]
    entries, lines = [], []
    for credit_code, by_bureau in sorted(findings.items()):
        missing = [b for b in codes if b not in by_bureau]
        if missing:
            lines.append(f"{credit_code}: waiting for the findings of {', '.join(missing)}")
            continue
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
            "participants": codes,
            "findings": {
                b: {
                    "outcome": s["outcome"],
                    "inspectors": s["inspectors"],
                    "inspected_on": s["inspected_on"],
                }
                for b, s in by_bureau.items()
            },
        }
        entries.append(NewEntry(f"result/{joint}/{credit_code}", "result", body))
        lines.append(f"{credit_code}: published, participants {', '.join(codes)}")
    with Session(engine) as session:
        share(session, entries)
        session.commit()
    return lines
