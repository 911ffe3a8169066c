"""What the inspector's assignment page shows, read in one session as plain data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from findings import service
from findings.categories import ACTION_LABELS, MEASURE_LABELS, RESULT_LABELS
from findings.history import History
from notifications.workdays import working_days_between
from registry.models import (
    Certificate,
    CheckItem,
    Enterprise,
    Inspector,
    certificate_kind_label,
    certificate_status_label,
)
from rounds.models import Assignment, Round
from shuangsui.clock import local_label


@dataclass
class VersionView:
    version: int
    result: str
    check_date: str
    description: str
    measures: list[str]
    certificates: list[str]
    evidence: list[dict[str, Any]]
    internal_note: str
    reason: str
    submitted_by: str
    submitted_at: str
    signed_by: list[str]  # display names, for the page
    signer_ids: list[str]  # who signed, by id: two teammates may share a name
    missing: list[str]
    final: bool
    final_at: str
    # the correction that replaced it (0: none, the latest): a superseded version awaits
    # nobody's signature, whoever had not signed it
    superseded_by: int = 0


@dataclass
class AssignmentView:
    round_key: str
    credit_code: str
    enterprise_name: str
    address: str
    certificates: list[dict[str, str]]  # body, number, scope; kind and status in Chinese
    check_item: str
    legal_basis: str
    me: str
    team: list[dict[str, str]]  # id, name, lead
    window: str
    due_on: str
    open_until: str  # the last day a check may take place without a reason, if after the window
    due_left: str  # 还有 N 个工作日 / 今天截止 / 已逾期 N 个工作日
    versions: list[VersionView] = field(default_factory=list)

    @property
    def latest(self) -> VersionView | None:
        return self.versions[-1] if self.versions else None

    def name_of(self, inspector_id: str) -> str:
        return next((m["name"] for m in self.team if m["id"] == inspector_id), inspector_id)


def _who(actor: str, names: dict[str, str]) -> str:
    """Who submitted a version, as the page says it: an inspector by name, a coordinator (the
    findings import or correction) as 协调员 and their name."""
    role, _, ident = actor.partition(":")
    if role == "inspector":
        return names.get(ident, ident)
    return f"协调员 {ident}" if role == "coordinator" else actor


def version_views(hist: History, names: dict[str, str], zone: str) -> list[VersionView]:
    out = []
    # the correction of each version (0: none, the latest)
    later = [v.version for v in hist.versions[1:]] + [0] if hist.versions else []
    for v, s, next_version in zip(hist.versions, hist.states, later, strict=True):
        out.append(
            VersionView(
                version=v.version,
                result=RESULT_LABELS.get(v.result, str(v.result)),  # type: ignore[call-overload]
                check_date=v.check_date.isoformat(),
                description=v.description,
                measures=[
                    f"{MEASURE_LABELS.get(m['kind'], m['kind'])}"  # type: ignore[call-overload]
                    + (f"（期限 {m['deadline']}）" if m.get("deadline") else "")
                    + (f"：{m['text']}" if m.get("text") else "")
                    for m in v.measures
                ],
                certificates=[
                    f"{c['body']} {c['number']}：{ACTION_LABELS.get(c['action'], c['action'])}"  # type: ignore[call-overload]
                    for c in v.certificates
                ],
                evidence=list(v.evidence),
                internal_note=v.internal_note,
                reason=v.reason,
                submitted_by=_who(v.submitted_by, names),
                submitted_at=local_label(v.created_at, zone),
                signed_by=[names.get(i, i) for i in s.signed_by],
                signer_ids=list(s.signed_by),
                missing=[names.get(i, i) for i in s.missing],
                final=s.final,
                final_at=local_label(s.final_at, zone) if s.final_at else "",
                superseded_by=next_version,
            )
        )
    return out


def due_label(today: dt.date, due: dt.date) -> str:
    """How the deadline stands, in working days: ahead, today, or passed (never "还有 0")."""
    if today > due:
        late = working_days_between(due, today)
        return f"已逾期 {late} 个工作日" if late else "已过截止日"
    if today == due:
        return "今天截止"
    return f"还有 {working_days_between(today, due)} 个工作日"


def load(engine: Engine, round_key: str, credit_code: str, me: str, zone: str) -> AssignmentView:
    with Session(engine) as db:
        rnd = db.get(Round, round_key)
        ent = db.get(Enterprise, credit_code)
        assert rnd is not None
        item = db.get(CheckItem, rnd.check_item_code)
        rows = (
            db.execute(
                select(Assignment)
                .where(col(Assignment.round_key) == round_key)
                .where(col(Assignment.credit_code) == credit_code)
                .order_by(col(Assignment.position))
            )
            .scalars()
            .all()
        )
        ids = [a.inspector_id for a in rows]
        people = {
            i.inspector_id: i.name
            for i in db.execute(
                select(Inspector).where(col(Inspector.inspector_id).in_(ids))
            ).scalars()
        }
        kinds = set(item.cert_kinds) if item and item.cert_kinds else None
        certs = [
            {
                "body": c.body,
                "number": c.number,
                "kind": certificate_kind_label(c.kind),
                "status": certificate_status_label(c.status),
                "scope": c.scope,
            }
            for c in db.execute(
                select(Certificate)
                .where(col(Certificate.credit_code) == credit_code)
                .order_by(col(Certificate.body), col(Certificate.number))
            ).scalars()
            if kinds is None or str(c.kind) in kinds
        ]
        due = max(a.due_on for a in rows)
    today = dt.datetime.now(ZoneInfo(zone)).date()
    hist = service.history(engine, round_key, credit_code)
    names = {i: people.get(i, i) for i in ids}
    return AssignmentView(
        round_key=round_key,
        credit_code=credit_code,
        enterprise_name=ent.name if ent else credit_code,
        address=ent.address if ent else "",
        certificates=certs,
        check_item=item.name if item else rnd.check_item_code,
        legal_basis=item.legal_basis if item else "",
        me=me,
        team=[{"id": i, "name": names[i], "lead": str(n == 0)} for n, i in enumerate(ids)],
        window=f"{rnd.window_start.isoformat()} 至 {rnd.window_end.isoformat()}",
        due_on=due.isoformat(),
        open_until=due.isoformat() if due > rnd.window_end else "",  # a 延期 moved it
        due_left=due_label(today, due),
        versions=version_views(hist, names, zone),
    )
