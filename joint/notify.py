"""Each bureau notifies its own inspectors of a drawn joint round, through the existing outbox
(notifications.messages): one 检查任务通知 per member of ours on a team, and when a team
changes (§13.7) what a bureau's own round tells (``notifications.hooks.after_replacement``).
A member of ours seated by a replacement has a notice saying whose seat they take and why (the
cause, never the reason: ``notifications.messages.seat_taken``), however often it is written.

A partner bureau's registry does not hold the lead's enterprises: a notice then names the
enterprise by its credit code and division (from the lead's committed frame), and teammates of
other bureaus by bureau and inspector id. The notice's link opens a page only on a bureau that
holds the round (findings go to the lead, ``joint finding``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from draw.frame import EnterpriseUnit
from joint.models import JointRound, JointStatement
from joint.replace import teams_as_they_stand
from joint.replacements import held_replacements
from notifications import facts
from notifications.hooks import delete_unsent, kept_notice, rewrite_unsent
from notifications.links import idempotency_keys
from notifications.messages import (
    CertInfo,
    Common,
    EnterpriseInfo,
    Outgoing,
    Person,
    RoundInfo,
    TeamChanged,
    assignment_message,
    assignment_withdrawn_message,
    seat_taken,
    team_changed_message,
)
from notifications.models import NotificationKind
from notifications.outbox import add_messages
from notifications.settings import NotifySettings
from registry.models import CheckItem
from shuangsui.text import CONTROL

Teams = Mapping[str, Sequence[Sequence[str]]]  # credit code: [[bureau, inspector_id], …]
Statement = Mapping[str, Any]


@dataclass(frozen=True)
class _Ours:
    """What ``bureau``'s notices of some teams of a joint round are made of, read once."""

    bureau: str
    common: Common
    info: RoundInfo
    enterprises: dict[str, EnterpriseInfo]  # each team's, as this bureau can name it
    certificates: dict[str, list[CertInfo]]
    people: dict[str, Person]  # our inspectors on those teams, and those they replaced
    # our seats on those teams held by a replacement: its latest statement, by (code, position)
    taken: dict[tuple[str, int], Statement]

    def member(self, b: str, inspector_id: str) -> Person:
        """A teammate: ours by name and unit; another bureau's by its code and inspector id."""
        if b == self.bureau and inspector_id in self.people:
            return self.people[inspector_id]
        shown = CONTROL.sub("\ufffd", inspector_id)  # a C1 control an older partner's took
        return Person(inspector_id, f"{b} {shown}", unit=f"协作机关 {b}")

    def replacing(self, code: str, position: int) -> dict[str, Any]:
        """What the notice of our member at ``position`` says besides when a replacement
        seated them: whose seat they take and the cause (``seat_taken``); nothing for one
        the draw seated."""
        st = self.taken.get((code, position))
        if st is None:
            return {}
        return seat_taken(self.member(self.bureau, st["withdrawn"]), st["cause"], position == 0)

    def assignments(self, code: str, team: Sequence[Sequence[str]]) -> list[Outgoing]:
        """The 检查任务通知 of each member of ours on the team of ``code`` as it stands."""
        return [
            assignment_message(
                self.common, round_info=self.info, enterprise=self.enterprises[code],
                certificates=self.certificates.get(code, []), inspector=self.people[i],
                lead=pos == 0, due_on=self.info.window_end,
                team=[(self.member(b2, i2), p2 == 0) for p2, (b2, i2) in enumerate(team)
                      if (b2, i2) != (b, i)],
                extra=self.replacing(code, pos),
            )
            for pos, (b, i) in enumerate(team)
            if b == self.bureau and i in self.people
        ]  # fmt: skip


def _divisions(session: Session, row: JointRound) -> dict[str, str]:
    """The division of each enterprise of the lead's committed frame, by credit code: the
    whole frame read, for the notices of every team at once."""
    q = select(JointStatement).where(
        JointStatement.joint_key == row.joint_key,
        JointStatement.bureau == row.lead,
        JointStatement.kind == "commit",
    )
    return {
        e["credit_code"]: e["division_code"] for c in session.exec(q).all()
        for e in json.loads(c.payload)["enterprises"]
    }  # fmt: skip


def _ours(
    session: Session, row: JointRound, bureau: str, teams: Teams, divisions: Mapping[str, str],
    held: Sequence[Statement],
) -> _Ours:  # fmt: skip
    """The facts of ``bureau``'s notices of ``teams`` as they stand with the replacements
    ``held`` applied; ``divisions``: of their enterprises, from the lead's committed frame
    (named so where our registry lacks one)."""
    plan = json.loads(row.plan_json)
    rnd = plan["round"]
    codes = sorted(teams)
    item = session.get(CheckItem, rnd["check_item"])
    info = RoundInfo(
        key=row.joint_key,
        title=rnd["title"],
        check_item=item.name if item else "",
        check_item_code=rnd["check_item"],
        legal_basis=list(rnd["legal_basis"]),
        window_start=dt.date.fromisoformat(rnd["window"]["start"]),
        window_end=dt.date.fromisoformat(rnd["window"]["end"]),
    )
    registered = facts.enterprises(session, codes)
    ents = {
        code: registered.get(code) or EnterpriseInfo(
            code, f"统一社会信用代码 {code}", f"行政区划 {divisions.get(code, '')}"
        )
        for code in codes
    }  # fmt: skip
    # our seats on these teams held by a replacement: its latest (``held`` is in order of n)
    taken = {(st["credit_code"], st["position"]): st
             for st in held if st["bureau"] == bureau and st["credit_code"] in teams}  # fmt: skip
    mine = {i for team in teams.values() for b, i in team if b == bureau}
    mine |= {st["withdrawn"] for st in taken.values()}
    return _Ours(
        bureau,
        facts.common(notify=NotifySettings()),
        info,
        ents,
        facts.certificates(session, codes, list(rnd["population"]["cert_kinds"])),
        facts.inspectors(session, mine),
        taken,
    )


def notify_own_inspectors(engine: Engine, joint: str, bureau: str) -> int:
    """Queue the assignment notices of ``bureau``'s inspectors on the teams as they stand;
    the number queued (0 when they are already queued: the outbox is idempotent, one notice
    per round, recipient and enterprise, so after a replacement only its new member's)."""
    with Session(engine) as session:
        row = session.get(JointRound, joint)
        assert row is not None  # drawn here
        held = held_replacements(session, joint)
        teams = teams_as_they_stand((row.outcome or {}).get("teams", {}), held)
        ours = _ours(session, row, bureau, teams, _divisions(session, row), held)
        messages = [n for code, team in sorted(teams.items())
                    for n in ours.assignments(code, team)]  # fmt: skip
        queued = add_messages(session, messages)
        session.commit()
    return queued


def tell_the_team(
    session: Session, row: JointRound, bureau: str, st: Statement, enterprise: EnterpriseUnit
) -> int:
    """A replacement ``st`` just held by ``bureau`` (its own, or a partner's taken in): our
    people it concerns are told, as in a bureau's own round
    (``notifications.hooks.after_replacement``), and only ours (each bureau its own people).
    ``enterprise``: the team's, from the lead's frame the pick read (a partner's registry
    does not hold it; read again, the whole frame was parsed for one division). The number of
    notices queued.

    When the member withdrawn is ours, the new member's 检查任务通知 says whose seat they
    take and why, and the one withdrawn has their unsent notice withdrawn, or, gone already,
    is sent a 检查任务变更通知. Each of our members who stays and whose 检查任务通知 has not
    reached them has it written again, naming the team as it stands; any other is sent a
    检查组变更通知. Called in the transaction that holds the statement, which is held once: a
    crash loses none of these with the statement kept, and a statement taken again, or pulled
    after it was POSTed, tells no one twice (the keys are per bureau and ``n``). The cause is
    told, never the reason (the statement does not carry it). Never commits."""
    code, ours_replaced = st["credit_code"], st["bureau"] == bureau
    drawn = (row.outcome or {})["teams"]  # a replacement is held only once drawn here
    held = held_replacements(session, row.joint_key)
    team = teams_as_they_stand(drawn, held)[code]
    ours = _ours(session, row, bureau, {code: team}, {code: enterprise.division_code}, held)
    change = TeamChanged(
        n=st["n"],
        enterprise=ours.enterprises[code],
        withdrawn=ours.member(st["bureau"], st["withdrawn"]),
        replacement=ours.member(st["bureau"], st["replacement"]),
        cause=st["cause"],
        lead=st["position"] == 0,
        bureau=st["bureau"],
    )
    notices = ours.assignments(code, team)  # the new member's says whose seat they take
    newcomer = st["replacement"] if ours_replaced else None
    stay = [n for n in notices if n.recipient != newcomer]
    rewritten = rewrite_unsent(session, stay)
    messages = [
        team_changed_message(ours.common, round_info=ours.info, change=change,
                             inspector=ours.people[n.recipient])
        for n in stay
        if n.recipient not in rewritten
    ]  # fmt: skip
    if ours_replaced:
        gone = st["withdrawn"]
        unsent = idempotency_keys(row.joint_key, NotificationKind.assignment.value)(gone, code)
        delete_unsent(session, [unsent], dead=True)  # never sent: withdrawn, not corrected
        if kept_notice(session, unsent) and gone in ours.people:
            messages.append(
                assignment_withdrawn_message(ours.common, round_info=ours.info, change=change)
            )
        messages += [n for n in notices if n.recipient == newcomer]
    return add_messages(session, messages)
