"""Each bureau notifies its own inspectors of a drawn joint round, through the existing outbox
(notifications.messages.assignment_message): one 检查任务通知 per member of ours on a team.

A partner bureau's registry does not hold the lead's enterprises: the notice then names the
enterprise by its credit code and division (from the lead's committed frame), and teammates of
other bureaus by bureau and inspector id. The notice's link opens a page only on a bureau that
holds the round (findings go to the lead, ``joint finding``)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Engine
from sqlmodel import Session

from joint.replacements import teams_now
from joint.store import get_joint, held, plan_of
from notifications import facts
from notifications.messages import EnterpriseInfo, Outgoing, Person, RoundInfo, assignment_message
from notifications.outbox import add_messages
from notifications.settings import NotifySettings
from registry.models import CheckItem


def notify_own_inspectors(engine: Engine, joint: str, bureau: str) -> int:
    """Queue the assignment notices of ``bureau``'s inspectors on the teams as they stand;
    the number queued (0 when they are already queued: the outbox is idempotent, one notice
    per round, recipient and enterprise, so after a replacement only its new member's)."""
    row = get_joint(engine, joint)
    plan, teams = plan_of(row), teams_now(engine, row)
    rnd = plan["round"]
    frame = {
        e["credit_code"]: e
        for c in held(engine, joint, ("commit",))
        if c.bureau == plan["lead"]
        for e in json.loads(c.payload)["enterprises"]
    }
    mine = sorted({i for team in teams.values() for b, i in team if b == bureau})
    codes = sorted(teams)
    due = dt.date.fromisoformat(rnd["window"]["end"])
    with Session(engine) as session:
        item = session.get(CheckItem, rnd["check_item"])
        info = RoundInfo(
            key=joint,
            title=rnd["title"],
            check_item=item.name if item else "",
            check_item_code=rnd["check_item"],
            legal_basis=list(rnd["legal_basis"]),
            window_start=dt.date.fromisoformat(rnd["window"]["start"]),
            window_end=due,
        )
        common = facts.common(notify=NotifySettings())
        ents = facts.enterprises(session, codes)
        certs = facts.certificates(session, codes, list(rnd["population"]["cert_kinds"]))
        people = facts.inspectors(session, mine)
        messages: list[Outgoing] = []
        for code, team in sorted(teams.items()):
            division = frame.get(code, {}).get("division_code", "")
            ent = ents.get(code) or EnterpriseInfo(
                code, f"统一社会信用代码 {code}", f"行政区划 {division}"
            )
            for pos, (b, i) in enumerate(team):
                if b != bureau or i not in people:
                    continue
                others = [
                    (_member(people, bureau, b2, i2), p2 == 0)
                    for p2, (b2, i2) in enumerate(team)
                    if (b2, i2) != (b, i)
                ]
                messages.append(
                    assignment_message(
                        common,
                        round_info=info,
                        enterprise=ent,
                        certificates=certs.get(code, []),
                        inspector=people[i],
                        lead=pos == 0,
                        team=others,
                        due_on=due,
                    )
                )
        queued = add_messages(session, messages)
        session.commit()
    return queued


def _member(people: dict[str, Person], bureau: str, b: str, inspector_id: str) -> Person:
    """A teammate: ours by name and unit; another bureau's by its code and inspector id."""
    if b == bureau and inspector_id in people:
        return people[inspector_id]
    return Person(inspector_id, f"{b} {inspector_id}", unit=f"协作机关 {b}")
