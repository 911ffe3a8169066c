"""Each bureau notifies its own inspectors of a drawn joint round, through the existing outbox
(notifications.messages): one 检查任务通知 per member of ours on a team, and when a team
changes (§13.7) what a bureau's own round tells (``notifications.hooks.after_replacement``).

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
    team_changed_message,
)
from notifications.models import NotificationKind
from notifications.outbox import add_messages
from notifications.settings import NotifySettings
from registry.models import CheckItem

Teams = Mapping[str, Sequence[Sequence[str]]]  # credit code: [[bureau, inspector_id], …]


@dataclass(frozen=True)
class _Ours:
    """What ``bureau``'s notices of some teams of a joint round are made of, read once."""

    bureau: str
    common: Common
    info: RoundInfo
    enterprises: dict[str, EnterpriseInfo]  # each team's, as this bureau can name it
    certificates: dict[str, list[CertInfo]]
    people: dict[str, Person]  # our inspectors on those teams (and one just withdrawn)

    def member(self, b: str, inspector_id: str) -> Person:
        """A teammate: ours by name and unit; another bureau's by its code and inspector id."""
        if b == self.bureau and inspector_id in self.people:
            return self.people[inspector_id]
        return Person(inspector_id, f"{b} {inspector_id}", unit=f"协作机关 {b}")

    def assignments(self, code: str, team: Sequence[Sequence[str]]) -> list[Outgoing]:
        """The 检查任务通知 of each member of ours on the team of ``code`` as it stands."""
        return [
            assignment_message(
                self.common, round_info=self.info, enterprise=self.enterprises[code],
                certificates=self.certificates.get(code, []), inspector=self.people[i],
                lead=pos == 0, due_on=self.info.window_end,
                team=[(self.member(b2, i2), p2 == 0) for p2, (b2, i2) in enumerate(team)
                      if (b2, i2) != (b, i)],
            )
            for pos, (b, i) in enumerate(team)
            if b == self.bureau and i in self.people
        ]  # fmt: skip


def _ours(session: Session, row: JointRound, bureau: str, teams: Teams, *more: str) -> _Ours:
    """The facts of ``bureau``'s notices of ``teams``; ``more``: inspectors of ours to name
    besides the members (one withdrawn)."""
    plan = json.loads(row.plan_json)
    rnd = plan["round"]
    q = select(JointStatement).where(
        JointStatement.joint_key == row.joint_key,
        JointStatement.bureau == plan["lead"],
        JointStatement.kind == "commit",
    )
    frame = {
        e["credit_code"]: e for c in session.exec(q).all()
        for e in json.loads(c.payload)["enterprises"]
    }  # fmt: skip
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
            code, f"统一社会信用代码 {code}",
            f"行政区划 {frame.get(code, {}).get('division_code', '')}",
        )
        for code in codes
    }  # fmt: skip
    mine = {i for team in teams.values() for b, i in team if b == bureau} | set(more)
    return _Ours(
        bureau,
        facts.common(notify=NotifySettings()),
        info,
        ents,
        facts.certificates(session, codes, list(rnd["population"]["cert_kinds"])),
        facts.inspectors(session, mine),
    )


def notify_own_inspectors(engine: Engine, joint: str, bureau: str) -> int:
    """Queue the assignment notices of ``bureau``'s inspectors on the teams as they stand;
    the number queued (0 when they are already queued: the outbox is idempotent, one notice
    per round, recipient and enterprise, so after a replacement only its new member's)."""
    with Session(engine) as session:
        row = session.get(JointRound, joint)
        assert row is not None  # drawn here
        teams = teams_as_they_stand((row.outcome or {}).get("teams", {}),
                                    held_replacements(session, joint))  # fmt: skip
        ours = _ours(session, row, bureau, teams)
        messages = [n for code, team in sorted(teams.items())
                    for n in ours.assignments(code, team)]  # fmt: skip
        queued = add_messages(session, messages)
        session.commit()
    return queued


def tell_the_team(session: Session, row: JointRound, bureau: str, st: Mapping[str, Any]) -> None:
    """A replacement ``st`` just held by ``bureau`` (its own, or a partner's taken in): each
    of our members who stays on that team is told, as in a bureau's own round
    (``notifications.hooks.after_replacement``), and only ours (each bureau its own people).

    A member whose 检查任务通知 has not reached them has it written again, naming the team as
    it stands; any other is sent a 检查组变更通知. When the member withdrawn is ours, their
    unsent notice is withdrawn, or, gone already, followed by a 检查任务变更通知. Called in
    the transaction that holds the statement, which is held once: a statement taken again, or
    pulled after it was POSTed, tells no one twice (and the keys are per bureau and ``n``).
    The cause is told, never the reason (the statement does not carry it). Never commits."""
    code, ours_replaced = st["credit_code"], st["bureau"] == bureau
    drawn = (row.outcome or {})["teams"]  # a replacement is held only once drawn here
    team = teams_as_they_stand(drawn, held_replacements(session, row.joint_key))[code]
    withdrawn = [st["withdrawn"]] if ours_replaced else []
    ours = _ours(session, row, bureau, {code: team}, *withdrawn)
    change = TeamChanged(
        n=st["n"],
        enterprise=ours.enterprises[code],
        withdrawn=ours.member(st["bureau"], st["withdrawn"]),
        replacement=ours.member(st["bureau"], st["replacement"]),
        cause=st["cause"],
        lead=st["position"] == 0,
        bureau=st["bureau"],
    )
    newcomer = st["replacement"] if ours_replaced else None  # told by notify_own_inspectors
    stay = [n for n in ours.assignments(code, team) if n.recipient != newcomer]
    rewritten = rewrite_unsent(session, stay)
    messages = [
        team_changed_message(ours.common, round_info=ours.info, change=change,
                             inspector=ours.people[n.recipient])
        for n in stay
        if n.recipient not in rewritten
    ]  # fmt: skip
    for gone in withdrawn:
        unsent = idempotency_keys(row.joint_key, NotificationKind.assignment.value)(gone, code)
        delete_unsent(session, [unsent], dead=True)  # never sent: withdrawn, not corrected
        if kept_notice(session, unsent) and gone in ours.people:
            messages.append(
                assignment_withdrawn_message(ours.common, round_info=ours.info, change=change)
            )
    add_messages(session, messages)
