"""Loading what messages are built from (round, plan, enterprises, certificates, inspectors)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col

from notifications.messages import CertInfo, Common, EnterpriseInfo, Person, RoundInfo
from notifications.settings import NotifySettings
from registry.models import Certificate, CheckItem, Enterprise, Inspector
from rounds.frames import plain_rows
from rounds.models import Assignment, Round
from rounds.plans import committed_plan
from shuangsui.config import Settings, get_settings
from shuangsui.db import one_of, rows_of
from shuangsui.errors import NotFound

CHUNK = 1000


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def person(inspector: Inspector | sa.Row[Any]) -> Person:
    return Person(
        inspector_id=inspector.inspector_id,
        name=inspector.name,
        unit=inspector.unit,
        email=inspector.email,
        webhook_url=inspector.webhook_url,
        webhook_kind=str(getattr(inspector.webhook_kind, "value", inspector.webhook_kind)),
        language=inspector.language,
    )


def coordinator(notify: NotifySettings) -> Person:
    return Person(
        inspector_id="coordinator",
        name=notify.coordinator_name,
        email=notify.coordinator_email,
        webhook_url=notify.coordinator_webhook_url,
        webhook_kind=notify.coordinator_webhook_kind,
        language=notify.coordinator_language,
    )


def common(
    *, today: date | None = None, settings: Settings | None = None, notify: NotifySettings
) -> Common:
    s = settings or get_settings()
    return Common(
        secret=s.secret_key.get_secret_value(),
        public_base_url=s.public_base_url,
        bureau_name=s.bureau_name,
        today=today or datetime.now(ZoneInfo(s.timezone)).date(),
        override_dir=notify.template_dir,
    )


def round_info(session: Session, round_key: str) -> tuple[RoundInfo, list[str]]:
    """The round as messages describe it, and the certificate kinds its check item concerns."""
    rnd = session.get(Round, round_key)
    if rnd is None:
        raise NotFound(f"round {round_key!r} does not exist")
    doc = committed_plan(session, rnd.plan_hash)
    item_code = getattr(rnd, "check_item_code", None) or doc.get("check_item")
    item = session.get(CheckItem, item_code) if item_code else None
    basis = doc.get("legal_basis") or ([item.legal_basis] if item else [])
    info = RoundInfo(
        key=rnd.round_key,
        title=str(doc.get("title") or rnd.plan_id),
        check_item=item.name if item else "",
        check_item_code=item.code if item else "",
        legal_basis=[str(b) for b in basis],
        window_start=rnd.window_start,
        window_end=rnd.window_end,
    )
    return info, list(item.cert_kinds) if item else []


class AssignmentRow(NamedTuple):
    credit_code: str
    inspector_id: str
    position: int
    due_on: date


def assignments(session: Session, round_key: str) -> list[AssignmentRow]:
    """A round's assignments as plain rows (Core, no ORM objects: a round has ~10^5)."""
    stmt = (
        sa.select(col(Assignment.credit_code), col(Assignment.inspector_id),
                  col(Assignment.position), col(Assignment.due_on))
        .where(col(Assignment.round_key) == round_key)
        .order_by(col(Assignment.credit_code), col(Assignment.position))
    )  # fmt: skip
    return [AssignmentRow(*r) for r in session.execute(stmt).all()]


def teams_drawn(teams: Mapping[str, Sequence[str]], due_on: date) -> Iterator[Team]:
    """A draw's teams (credit_code -> inspector ids, the lead first) as the assignments the
    draw writes, every check due on ``due_on`` (the round's last day), in the order
    :func:`teams` gives them from the rows read back; each made as it is read."""
    for code in sorted(teams):
        yield Team(code, due_on, tuple((i, p, due_on) for p, i in enumerate(teams[code])))


def enterprises(session: Session, codes: Sequence[str]) -> dict[str, EnterpriseInfo]:
    """The enterprises of ``codes`` by credit code, read as the driver's rows
    (``shuangsui.db.rows_of``: a draw's notices read thousands, and on SQLite SQLAlchemy's
    expanding of a chunk's thousand codes into parameters cost more than the reading)."""
    found = rows_of(session.connection(), ENTERPRISES, ("credit_code", "name", "address"),
                    "credit_code", sorted(set(codes)), chunk=CHUNK)  # fmt: skip
    return {code: EnterpriseInfo(code, name, address) for code, name, address in found}


ENTERPRISES: sa.Table = Enterprise.__table__  # type: ignore[attr-defined]


def certificates(
    session: Session, codes: Sequence[str], kinds: list[str]
) -> dict[str, list[CertInfo]]:
    """The certificates of ``codes`` of ``kinds`` (every kind when empty), by credit code, in
    (body, number) order; read as the DBAPI's tuples (kinds and statuses as stored: the
    values of their enumerations)."""
    out: dict[str, list[CertInfo]] = defaultdict(list)
    conn = session.connection()
    for chunk in _chunks(sorted(set(codes))):
        stmt = (
            sa.select(col(Certificate.credit_code), col(Certificate.body),
                      col(Certificate.number), col(Certificate.kind), col(Certificate.status),
                      col(Certificate.scope))
            .where(one_of(conn, col(Certificate.credit_code), chunk))
            .order_by(col(Certificate.body), col(Certificate.number))
        )  # fmt: skip
        if kinds:
            stmt = stmt.where(col(Certificate.kind).in_(kinds))
        with closing(plain_rows(conn, stmt)) as rows:
            for code, body, number, kind, status, scope in rows:
                out[code].append(CertInfo(body, number, kind, status, scope))
    return out


def inspectors(session: Session, ids: Iterable[str]) -> dict[str, Person]:
    """The people behind ``ids``, read as plain rows (no ORM object stays in the session)."""
    out: dict[str, Person] = {}
    columns = [col(getattr(Inspector, name)) for name in _PERSON_COLUMNS]
    for chunk in _chunks(sorted(set(ids))):
        stmt = sa.select(*columns).where(col(Inspector.inspector_id).in_(chunk))
        for row in session.execute(stmt):
            out[row.inspector_id] = person(row)
    return out


_PERSON_COLUMNS = ("inspector_id", "name", "unit", "email", "webhook_url", "webhook_kind",
                   "language")  # fmt: skip


class Team(NamedTuple):
    """The inspectors on one enterprise of one round, in position order (0 = lead), each with
    the day their check is due; ``due_on``: the earliest of those days."""

    credit_code: str
    due_on: date
    members: tuple[tuple[str, int, date], ...]  # (inspector_id, position, due_on)


def teams(rows: list[AssignmentRow]) -> list[Team]:
    grouped: dict[str, list[AssignmentRow]] = defaultdict(list)
    for a in rows:
        grouped[a.credit_code].append(a)
    return [
        Team(
            code,
            min(a.due_on for a in group),
            tuple((a.inspector_id, a.position, a.due_on) for a in group),
        )
        for code, group in sorted(grouped.items())
    ]
