"""The life of an inspector's link: who it opens, until when, and how it is taken back.

An inspector's token is an HMAC over (round, enterprise, inspector)
(``notifications.links.assignment_token``); nothing is stored when it is issued. So it is
refused by what the database says about the assignment, checked on every request:

* **expiry**: it works until the round's findings deadline (the assignment's due date, at the
  latest the round's window end, plus ``SHUANGSUI_PUBLISH_DEADLINE_WORKING_DAYS`` working
  days) plus ``SHUANGSUI_TOKEN_GRACE_DAYS`` calendar days, in the bureau's time zone;
* **revocation**: ``shuangsui tokens revoke INSPECTOR [--round R]`` refuses the inspector's
  links in one round, or in every round drawn until the revocation (:func:`covers`): the links
  a lost phone could hold, not those of rounds drawn afterwards; each revocation is an audit
  entry;
* **registry status**: an inspector marked inactive in the registry is refused;
* **the team**: a member withdrawn from the check's team (a replacement,
  ``rounds.replacements``) is refused as replaced (403 ``member-replaced``), the refusal
  saying who withdrew them, when, why and who took the seat (:func:`withdrawn`);
* **generation**: a member's link to one check ended by a coordinator (``notifications
  relink --end-old``, ``notifications.generations``) is refused as replaced, and so is a
  workspace session it opened (its binding names the generation); the member's new link, of
  the next generation, opens.

A write through a link (a finding submitted or signed) is checked once more inside its own
transaction (:func:`still_open`), so a revocation committed between the request's check and the
write's commit refuses the write.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from findings.deadlines import Calendar, add_working_days
from findings.models import InspectorTokenRevocation
from findings.service import hold_teams
from findings.settings import FindingsSettings
from notifications import generations
from notifications.links import assignment_tokens
from registry.models import Inspector, InspectorStatus
from rounds import audit
from rounds.models import Assignment, Round, TeamChange
from shuangsui.clock import local_time
from shuangsui.config import Settings
from shuangsui.errors import UserError

logger = logging.getLogger(__name__)

ALL_ROUNDS = ""


@dataclass(frozen=True)
class InspectorTokenRevoked:
    """Audit event: an inspector's links refused from now on (``round_key`` empty: all)."""

    inspector_id: str
    round_key: str
    revoked_by: str
    reason: str


@dataclass(frozen=True)
class Refusal:
    status: int
    slug: str
    detail: str


class LinkRefused(Exception):
    """A write through an inspector's link that the link no longer allows, found inside the
    write's transaction (:func:`still_open`); the API and the workspace answer it as they
    answer the same refusal at the start of a request."""

    def __init__(self, refused: Refusal):
        super().__init__(refused.detail)
        self.refused = refused


@dataclass(frozen=True)
class TeamAccess:
    """What the database says about one enterprise's team in one round."""

    team: list[str]
    due: dt.date
    inactive: frozenset[str]
    revoked: frozenset[str]
    # each member's current generation of the link (``notifications.generations``); 0 if absent
    generations: Mapping[str, int] = field(default_factory=dict)


def load(session: Session, round_key: str, credit_code: str) -> TeamAccess | None:
    """The team of ``credit_code`` in ``round_key`` with what may refuse its links; None when
    the enterprise was not drawn in that round."""
    rows = session.execute(
        select(col(Assignment.inspector_id), col(Assignment.due_on))
        .where(col(Assignment.round_key) == round_key, col(Assignment.credit_code) == credit_code)
        .order_by(col(Assignment.position))
    ).all()
    if not rows:
        return None
    team = [r[0] for r in rows]
    window_end, drawn_at = session.execute(
        select(col(Round.window_end), col(Round.drawn_at)).where(col(Round.round_key) == round_key)
    ).one()
    inactive = session.execute(
        select(col(Inspector.inspector_id)).where(
            col(Inspector.inspector_id).in_(team),
            col(Inspector.status) != InspectorStatus.active,
        )
    ).scalars()
    revocations = session.execute(
        select(InspectorTokenRevocation).where(
            col(InspectorTokenRevocation.inspector_id).in_(team),
            col(InspectorTokenRevocation.round_key).in_([ALL_ROUNDS, round_key]),
        )
    ).scalars()
    revoked = {r.inspector_id for r in revocations if covers(r, drawn_at)}
    due = max([window_end, *(r[1] for r in rows)])
    current = generations.current(session, round_key, credit_code, team)
    made = {member: n for (_, member), n in current.items()}
    return TeamAccess(team, due, frozenset(inactive), frozenset(revoked), made)


def covers(revocation: InspectorTokenRevocation, drawn_at: dt.datetime | None) -> bool:
    """Whether ``revocation`` refuses the links of a round drawn at ``drawn_at``.

    A revocation of one round covers that round. A revocation of every round covers the links
    issued until it was made: a round's links are made when it is drawn, so it covers the rounds
    drawn until then, which are the links a lost phone could hold. A round drawn afterwards
    sends the inspector new links, which open (the inspector is still on the registry's list;
    one who left is marked inactive there, which refuses every link). A round with no draw time
    is covered: nothing says its links are new."""
    if revocation.round_key != ALL_ROUNDS:
        return True
    return drawn_at is None or drawn_at <= revocation.revoked_at


def match(
    secret: str, round_key: str, credit_code: str, team: list[str], token: str,
    current: Mapping[str, int] | None = None,
) -> str | None:  # fmt: skip
    """The member whose token ``token`` is, of their ``current`` generation (0 when not in it).
    Every member is compared, so the time taken does not tell which one matched; bytes are
    compared, so any text a client sends is safe here."""
    sent = token.encode("utf-8", "surrogateescape")
    made = assignment_tokens(secret, round_key)
    current = current or {}
    found = None
    for inspector_id in team:
        expected = made(credit_code, inspector_id, current.get(inspector_id, 0)).encode("ascii")
        if hmac.compare_digest(expected, sent):
            found = inspector_id
    return found


def replaced(
    secret: str, round_key: str, credit_code: str, found: TeamAccess, token: str, bureau: str
) -> Refusal | None:
    """The refusal of ``token`` when it is a member's link of a generation ended since
    (:data:`REPLACED`), None otherwise. It names nobody: the holder may not be the member."""
    sent = token.encode("utf-8", "surrogateescape")
    made = assignment_tokens(secret, round_key)
    hit = False
    for inspector_id, current in found.generations.items():
        for n in range(current):
            expected = made(credit_code, inspector_id, n).encode("ascii")
            hit = hmac.compare_digest(expected, sent) or hit
    return replaced_refusal(bureau) if hit else None


REPLACED = (
    "this link was replaced and no longer opens anything: a new link was sent to the inspector "
    "it was made for; if that is you, open the newest link sent to you, otherwise ask the "
    "coordinator of {bureau}"
)


def replaced_refusal(bureau: str) -> Refusal:
    """A link (or a session it opened) of a generation ended since: 403, naming nobody."""
    return Refusal(403, "token-replaced", REPLACED.format(bureau=bureau))


def replaced_member(
    session: Session, round_key: str, credit_code: str, found: TeamAccess, token: str,
    settings: Settings,
) -> Refusal | None:  # fmt: skip
    """The refusal of ``token`` when it is the link of a member withdrawn from the team since
    (:func:`withdrawn`), None otherwise. Every withdrawn member is compared, as in
    :func:`match`."""
    g = TeamChange.__table__.c  # type: ignore[attr-defined]
    gone = session.execute(
        select(g.withdrawn).where(g.round_key == round_key, g.credit_code == credit_code)
    ).scalars()
    members = sorted(set(gone) - set(found.team))
    if not members:
        return None
    current = generations.current(session, round_key, credit_code, members)
    made = assignment_tokens(settings.secret_key.get_secret_value(), round_key)
    sent = token.encode("utf-8", "surrogateescape")
    hit = None
    for member in members:
        expected = made(credit_code, member, current.get((credit_code, member), 0))
        if hmac.compare_digest(expected.encode("ascii"), sent):
            hit = member
    if hit is None:
        return None
    change = last_withdrawal(session, round_key, credit_code, hit)
    return withdrawn(change, settings) if change is not None else None


def last_withdrawal(
    session: Session, round_key: str, credit_code: str, inspector_id: str
) -> TeamChange | None:
    """The latest replacement that withdrew ``inspector_id`` from the check's team."""
    g = TeamChange.__table__.c  # type: ignore[attr-defined]
    mine = (g.round_key == round_key, g.credit_code == credit_code, g.withdrawn == inspector_id)
    latest = select(TeamChange).where(*mine).order_by(g.n.desc()).limit(1)
    return session.execute(latest).scalars().first()


def withdrawn(change: TeamChange, settings: Settings) -> Refusal:
    """A member's link refused because ``change`` withdrew them from the team: 403
    ``member-replaced``, saying who withdrew them, when (the bureau's time), the cause (its key
    in the round's bundles, not the note) and who took the seat, as the workspace's page says
    it to the member (``workspace.kept.withdrawn_said``). The holder of the link is told: the
    link was the member's own, and still is, not a link ended as lost."""
    at = local_time(change.recorded_at, settings.timezone).isoformat(timespec="minutes")
    return Refusal(
        403,
        "member-replaced",
        f"inspector {change.withdrawn} was replaced on this team: coordinator "
        f"{change.recorded_by} withdrew them at {at} (cause: {change.cause}) and "
        f"{change.replacement} took the seat; this link no longer records or signs anything "
        f"for this check, and nothing of this request was recorded: give what you have to "
        f"the coordinator of {settings.bureau_name}",
    )


def binding(generation: int) -> str:
    """What ties an inspector's workspace session to the generation of the link that opened
    it (empty for generation 0, as every session made before generations had it)."""
    return f"g{generation}" if generation else ""


def generation_of(binding_: str) -> int:
    """The generation a session's :func:`binding` names (-1: none that a link could have)."""
    if not binding_:
        return 0
    digits = binding_.removeprefix("g")
    return int(digits) if binding_.startswith("g") and digits.isdigit() else -1


@lru_cache(maxsize=256)
def _expires_on(due: dt.date, publish_days: int, grace_days: int, calendar: Calendar) -> dt.date:
    return add_working_days(due, publish_days, calendar).day + dt.timedelta(days=grace_days)


def expires_on(due: dt.date, settings: Settings) -> dt.date:
    """The last day a link of an assignment due on ``due`` works."""
    fs = FindingsSettings()
    calendar = Calendar.from_settings(fs.extra_holidays, fs.extra_workdays)
    return _expires_on(
        due, settings.publish_deadline_working_days, settings.token_grace_days, calendar
    )


def refusal(
    found: TeamAccess, inspector_id: str, round_key: str, settings: Settings
) -> Refusal | None:
    """Why the matching member's link must be refused now, or None."""
    ask = f"ask the coordinator of {settings.bureau_name}"
    if inspector_id in found.revoked:
        return Refusal(
            401,
            "token-revoked",
            f"the links of inspector {inspector_id} were revoked; {ask} for help",
        )
    if inspector_id in found.inactive:
        return Refusal(
            403,
            "inspector-inactive",
            f"inspector {inspector_id} is marked inactive in the registry and may no longer "
            f"record or sign findings; {ask}",
        )
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    last = expires_on(found.due, settings)
    if today > last:
        return Refusal(
            401,
            "token-expired",
            f"this link expired after {last.isoformat()}: round {round_key} was due "
            f"{found.due.isoformat()}, and links work until its findings deadline plus "
            f"{settings.token_grace_days} days; {ask} to record a correction",
        )
    return None


def still_open(
    settings: Settings, round_key: str, credit_code: str, inspector_id: str, generation: int = 0
) -> Callable[[Session], None]:
    """The check of a write through ``inspector_id``'s link (of ``generation``), for the
    write's own transaction (``shuangsui.writes.write``): :func:`refusal` again, and the
    generation still the member's current one, raised as :class:`LinkRefused`.

    It first takes a share lock on the round's row, which a change of a team takes for update
    (a member replaced, ``rounds.replacements``; a new date; a link ended,
    ``notifications.relink``), then on the inspector's registry row, which :func:`revoke` (and
    a change of the inspector's status) takes exclusively. A change that committed before is
    read (PostgreSQL's READ COMMITTED reads what is committed when each statement starts); one
    still under way is waited for, then read; one that starts later waits until the write has
    committed. So a revocation, or a replacement taking the member off the team, committed
    before the write commits always refuses it, and is refused as such (the write's page
    says who replaced them: ``workspace.kept``), never read as the team it was before. The
    round first, as those changes take it: the two rows in one order. On SQLite the write
    holds the database's write lock already, and the changes queue behind it."""

    def check(session: Session) -> None:
        hold_teams(session, [round_key])
        session.execute(
            select(col(Inspector.inspector_id))
            .where(col(Inspector.inspector_id) == inspector_id)
            .with_for_update(read=True)
        )
        found = load(session, round_key, credit_code)
        if found is None or inspector_id not in found.team:
            change = last_withdrawal(session, round_key, credit_code, inspector_id)
            refused: Refusal | None = (
                withdrawn(change, settings)
                if change is not None
                else Refusal(
                    403, "token-refused", f"{inspector_id} is not on this assignment's team"
                )
            )
        else:
            refused = refusal(found, inspector_id, round_key, settings)
            if refused is None and found.generations.get(inspector_id, 0) != generation:
                refused = replaced_refusal(settings.bureau_name)
        if refused is not None:
            raise LinkRefused(refused)

    return check


# ------------------------------------------------------------------ revocation
def revoke(
    engine: Engine, inspector_id: str, *, round_key: str = ALL_ROUNDS, by: str, reason: str = ""
) -> InspectorTokenRevocation:
    """Refuse ``inspector_id``'s links in ``round_key`` (empty: every round drawn until now,
    :func:`covers`), with an audit entry in the same transaction. The inspector's row is locked
    first: a write through one of the links that has checked them (:func:`still_open`) commits
    before the revocation does.

    An inspector keeps one revocation of every round: revoked again after a round was drawn (a
    second phone lost), it is moved to now, so it covers that round too; the audit log keeps
    each."""
    if not inspector_id.strip():
        raise UserError("inspector id: give the id of the inspector whose links to revoke")
    if not by.strip():
        raise UserError("--by: say who revokes (a name)")
    for _attempt in range(20):  # a concurrent audit append takes the chain's head: retry
        with Session(engine, expire_on_commit=False) as session:
            if session.get(Inspector, inspector_id, with_for_update=True) is None:
                raise UserError(f"inspector id: no inspector {inspector_id!r} in the registry")
            if round_key and session.get(Round, round_key) is None:
                raise UserError(f"--round: no round {round_key!r}")
            row = _revocation_row(session, inspector_id, round_key, by, reason)
            session.add(row)
            event = InspectorTokenRevoked(inspector_id, round_key, by, reason)
            try:
                audit.add_to(session, round_key or None, event)
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
            break
    else:
        raise RuntimeError("could not record the revocation: the audit log is too busy")
    logger.info("links of inspector %s revoked (%s) by %s", inspector_id, round_key or "all", by)
    return row


def _revocation_row(
    session: Session, inspector_id: str, round_key: str, by: str, reason: str
) -> InspectorTokenRevocation:
    """The row a revocation writes: a new one, or the inspector's revocation of every round
    moved to now when a round the inspector was drawn into came since it. A revocation that
    would cover nothing new is refused as already made."""
    now = dt.datetime.now(dt.UTC)
    row = session.get(InspectorTokenRevocation, (inspector_id, round_key))
    if row is None:
        return InspectorTokenRevocation(inspector_id=inspector_id, round_key=round_key,
                                        revoked_by=by, reason=reason, revoked_at=now)  # fmt: skip
    if round_key or not _drawn_into_since(session, inspector_id, row.revoked_at):
        where = f"round {round_key}" if round_key else "every round drawn until now"
        raise UserError(f"the links of {inspector_id} in {where} are already revoked")
    row.revoked_by, row.reason, row.revoked_at = by, reason, now
    return row


def _drawn_into_since(session: Session, inspector_id: str, since: dt.datetime) -> bool:
    """Whether a round drawn after ``since`` gave ``inspector_id`` a link."""
    found = session.execute(
        select(col(Assignment.round_key))
        .join(Round, col(Round.round_key) == col(Assignment.round_key))
        .where(col(Assignment.inspector_id) == inspector_id, col(Round.drawn_at) > since)
        .limit(1)
    ).first()
    return found is not None


def revoked(engine: Engine) -> list[InspectorTokenRevocation]:
    with Session(engine, expire_on_commit=False) as session:
        stmt = select(InspectorTokenRevocation).order_by(
            col(InspectorTokenRevocation.revoked_at), col(InspectorTokenRevocation.inspector_id)
        )
        return list(session.execute(stmt).scalars())
