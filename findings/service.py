"""Recording findings: append a version, sign it off (reading one: :mod:`findings.history`).

Versions are never updated. The first version needs no reason; every later one is a correction
and must say why. Submitting a version counts as the submitter's sign-off of it; the finding is
final once every team member has signed its latest version (two-person rule). Each write is a
transaction of its own on the locked finding (:mod:`shuangsui.writes`): of two writers at once,
the second reads what the first committed, and is a :class:`Conflict` when that moved on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import NamedTuple

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from findings import evidence
from findings.dates import date_problems
from findings.events import FindingRecorded, FindingSigned
from findings.history import History as History
from findings.history import count_versions as count_versions
from findings.history import history as history
from findings.history import latest_version_number, signoffs, team_of
from findings.models import Finding, FindingSignoff, FindingVersion
from findings.schemas import FindingIn
from findings.state import VersionState, utc, version_state
from registry.models import Certificate
from rounds import audit, turns
from rounds.models import Round
from shuangsui import writes
from shuangsui.errors import Conflict, NotFound, UserError

logger = logging.getLogger(__name__)

# the versions a finding may have, its first and every correction: a real check needs a
# handful (a wrong date, a certificate missed, a teammate's reading); this leaves room ten
# times over and stops a loop (one client posted 60 versions in 2.7 s) from growing the table,
# the history every page shows and the sign-off mails each version sends without end
MAX_VERSIONS = 50


class VersionCapReached(UserError):
    """A finding at :data:`MAX_VERSIONS` takes no more: a 422 on the API, said in Chinese on the
    workspace's pages."""

    def __init__(self, round_key: str, credit_code: str):
        super().__init__(
            f"{round_key}/{credit_code} has {MAX_VERSIONS} versions, the most a finding may "
            "have; no more corrections can be recorded: ask the bureau's administrator"
        )
        self.round_key, self.credit_code = round_key, credit_code


class NotOnTeam(UserError):
    """Someone not on the enterprise's team in the round named as a signer: a 422 on the API,
    said in Chinese on the workspace's pages (``inspector_ids``: the strangers)."""

    def __init__(self, message: str, inspector_ids: Sequence[str], team: Sequence[str]):
        super().__init__(message)
        self.inspector_ids, self.team = list(inspector_ids), list(team)


class VersionRefused(UserError):
    """What a version holds that cannot be recorded: a check date the round does not allow, a
    certificate or a file not its assignment's. A 422 on the API, the ``problems`` joined;
    the workspace's pages say each of them."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class NoSuchVersion(NotFound):
    """A version named that the finding does not have (yet): a 404 on the API, said in Chinese
    on the workspace's pages. ``latest``: the finding's latest version, None when it has none."""

    def __init__(self, message: str, version: int, latest: int | None):
        super().__init__(message)
        self.version, self.latest = version, latest


def _now() -> datetime:
    return datetime.now(UTC)


class VersionAdded(NamedTuple):
    """A version just added, as :data:`after_version_hooks` see it."""

    round_key: str
    credit_code: str
    version: FindingVersion
    team: Sequence[str]  # the enterprise's inspectors in the round, the lead first
    signers: Sequence[str]  # who signed it as it was added (the submitter among them)


# Called with (session, VersionAdded) in the transaction that adds a version (the API, the
# workspace, the findings import), after its sign-offs: the notifications ask each member of
# the team who has not signed it for a signature (``notifications.hooks``), so the message
# exists if and only if the version does.
after_version_hooks: list[Callable[[Session, VersionAdded], None]] = []
# Called with (session, round_key, credit_code, version number, inspector_id) in the
# transaction that records a member's signature of a version already there: the
# notifications withdraw a request for that signature not sent yet.
after_sign_hooks: list[Callable[[Session, str, str, int, str], None]] = []


def reference_problems(
    session: Session, round_key: str, credit_code: str, data: FindingIn
) -> list[str]:
    """What a version names that is not its assignment's: a certificate of another enterprise
    (or none), a file not uploaded for this enterprise in this round. A stored file of another
    assignment is refused as one never uploaded, so the answer tells nothing of which digests
    the bureau holds. The files a finding cited before are linked to it (migration 0021), so a
    version repeating them (a sign-off, a re-submission, a correction) still passes."""
    problems = []
    for c in data.certificates:
        cert = session.get(Certificate, (c.body, c.number))
        if cert is None or cert.credit_code != credit_code:
            problems.append(
                f"certificates: {c.body} {c.number} is not a certificate of {credit_code}"
            )
    ours = evidence.linked(session, round_key, credit_code, (e.sha256 for e in data.evidence))
    for e in data.evidence:
        if e.sha256 not in ours:
            problems.append(
                f"evidence: {e.sha256} was not uploaded for {credit_code} in {round_key} "
                "(upload the file for this assignment first)"
            )
    return problems


def add_version(
    session: Session,
    *,
    round_key: str,
    credit_code: str,
    data: FindingIn,
    submitted_by: str,
    signers: Iterable[str],
    via: str,
    team: Sequence[str] | None = None,
    base_version: int | None = None,
    now: datetime | None = None,
) -> FindingVersion | None:
    """Add a version in the caller's transaction; None when it equals the latest (a retry, or
    another member agreeing with it: the caller decides what that signs).

    The finding's row stays locked until the transaction ends. A version without a reason when
    one exists, or a ``base_version`` that is no longer the latest, is a :class:`Conflict`
    naming the latest version; one past :data:`MAX_VERSIONS`, :class:`VersionCapReached`."""
    now = now or _now()
    team = list(team) if team is not None else team_of(session, round_key, credit_code)
    signers = sorted(set(signers))
    strangers = [s for s in signers if s not in team]
    if strangers:
        raise NotOnTeam(
            f"{', '.join(strangers)} is not on the team of {credit_code} in {round_key} "
            f"(team: {', '.join(team)})",
            strangers,
            team,
        )
    finding = _locked_finding(session, round_key, credit_code)
    if finding is None:
        finding = Finding(round_key=round_key, credit_code=credit_code, created_at=now)
        session.add(finding)
        session.flush()  # a concurrent first version collides here, on the unique key
    latest = _latest(session, finding.id)  # type: ignore[arg-type]
    digest = data.content_hash()
    if latest is not None and latest.content_hash == digest and latest.reason == data.reason:
        return None
    if latest is not None and base_version not in (None, latest.version):
        raise superseded(round_key, credit_code, latest, f"version {base_version} is superseded")
    if latest is None and base_version:
        message = f"{round_key}/{credit_code} has no version {base_version} yet"
        raise NoSuchVersion(message, base_version, None)
    if latest is not None and not data.reason.strip():
        raise superseded(
            round_key,
            credit_code,
            latest,
            "a version exists already (a correction is a new version and needs a reason)",
        )
    if latest is not None and latest.version >= MAX_VERSIONS:
        raise VersionCapReached(round_key, credit_code)
    content = data.content()
    content["check_date"] = data.check_date
    version = FindingVersion(
        finding_id=finding.id,  # type: ignore[arg-type]
        version=(latest.version + 1) if latest else 1,
        reason=data.reason,
        submitted_by=submitted_by,
        content_hash=digest,
        created_at=now,
        **content,
    )
    session.add(version)
    session.flush()
    for inspector_id in signers:
        session.add(
            FindingSignoff(
                version_id=version.id,  # type: ignore[arg-type]
                inspector_id=inspector_id,
                via=via,
                signed_at=now,
            )
        )
    added = VersionAdded(round_key, credit_code, version, tuple(team), tuple(signers))
    for hook in after_version_hooks:
        hook(session, added)
    return version


def superseded(round_key: str, credit_code: str, latest: FindingVersion, why: str) -> Conflict:
    """The conflict of a write that came second: it names the version that is there now."""
    at = utc(latest.created_at)
    return Conflict(
        f"{round_key}/{credit_code}: {why}; the latest is version {latest.version}, submitted "
        f"by {latest.submitted_by} at {at.isoformat(timespec='seconds')}: read it, then sign it "
        f"or correct it (with a reason and base_version={latest.version})",
        latest_version={
            "version": latest.version,
            "submitted_by": latest.submitted_by,
            "submitted_at": at.isoformat(),
            "content_hash": latest.content_hash,
        },
    )


def _latest(session: Session, finding_id: int) -> FindingVersion | None:
    return session.execute(
        select(FindingVersion)
        .where(col(FindingVersion.finding_id) == finding_id)
        .order_by(col(FindingVersion.version).desc())
        .limit(1)
    ).scalar_one_or_none()


def _locked_finding(session: Session, round_key: str, credit_code: str) -> Finding | None:
    """The finding, its row locked until the transaction ends (PostgreSQL; on SQLite the
    transaction holds the database's write lock already: :func:`shuangsui.writes.lock_writes`)."""
    return session.execute(
        select(Finding)
        .where(col(Finding.round_key) == round_key, col(Finding.credit_code) == credit_code)
        .with_for_update()
    ).scalar_one_or_none()


def hold_teams(session: Session, round_keys: Iterable[str]) -> None:
    """The rounds' rows held until the transaction ends (PostgreSQL: ``FOR SHARE``; SQLite
    holds the write lock already), before a team is read: a replacement moves a seat with the
    round's row locked for update (``rounds.replacements``), so a version or a signature reads
    the team before the replacement or after it, never a team it is changing (a withdrawn
    member's signature made final on a team that no longer had them).

    The turns of what builds on rounds come first (``rounds.turns``), as a replacement takes
    them: a version's or a signature's hooks delete and write the team's 待您签字确认, then the
    write appends to the audit log, while a dispatcher's claim following a member's messages
    (``notifications.follow``) writes them seat by seat, holding the log's head from the seat
    it audited before; each waited on the other (PostgreSQL: ``deadlock detected``)."""
    turns.take(session.connection())
    session.execute(
        select(col(Round.round_key))
        .where(col(Round.round_key).in_(sorted(set(round_keys))))
        .with_for_update(read=True)
    ).all()


def _latest_of(session: Session, round_key: str, credit_code: str) -> FindingVersion | None:
    finding = _locked_finding(session, round_key, credit_code)
    return _latest(session, finding.id) if finding else None  # type: ignore[arg-type]


def submit(
    engine: Engine,
    *,
    round_key: str,
    credit_code: str,
    data: FindingIn,
    submitted_by: str,
    signers: Iterable[str] = (),
    via: str = "api",
    base_version: int | None = None,
    today: date | None = None,
    allowed: Callable[[Session], None] | None = None,
) -> FindingVersion:
    """Record a version in a transaction of its own, with its audit event.

    ``base_version`` is the version the submitter read (0: none yet); without it, the version
    found when this call starts. A writer that got there first makes this a :class:`Conflict`
    naming the version that won. Submitting the latest version again (same content and reason)
    adds no version: it counts as the sign-off of each of ``signers`` who has not signed it
    (the other team member agreeing) and changes nothing for one who has (a retry). The latest
    version is returned either way. The check date must not be after ``today`` (default: the
    real today in the bureau's zone) and lies in the round's window unless the reason says why.
    ``allowed`` checks, in the write's transaction, that the writer may still write
    (:func:`shuangsui.writes.write`).
    """
    signers = sorted(set(signers))
    if base_version is None:  # read before queuing behind another writer, not after
        base_version = latest_version_number(engine, round_key, credit_code)

    def work(session: Session) -> FindingVersion:
        hold_teams(session, [round_key])
        team = team_of(session, round_key, credit_code)
        problems = date_problems(session, round_key, credit_code, data, on=today)
        problems += reference_problems(session, round_key, credit_code, data)
        if problems:
            raise VersionRefused(problems)
        version = add_version(
            session,
            round_key=round_key,
            credit_code=credit_code,
            data=data,
            submitted_by=submitted_by,
            signers=signers,
            via=via,
            team=team,
            base_version=base_version,
        )
        if version is None:
            same = _latest_of(session, round_key, credit_code)
            assert same is not None
            _sign(session, round_key, credit_code, same, team, signers, via=via)
            return same
        event = FindingRecorded(
            credit_code, version.version, version.content_hash, submitted_by, data.reason, signers
        )
        audit.add_to(session, round_key, event)
        logger.info(
            "finding %s/%s v%d by %s", round_key, credit_code, version.version, submitted_by
        )
        return version

    return writes.write(engine, work, what=f"finding {round_key}/{credit_code}", allowed=allowed)


def sign_off(
    engine: Engine,
    *,
    round_key: str,
    credit_code: str,
    version: int,
    inspector_id: str,
    via: str = "api",
    allowed: Callable[[Session], None] | None = None,
) -> VersionState:
    """A team member signs the latest version; signing again changes nothing. A version
    corrected meanwhile is a :class:`Conflict` naming the latest; one not there (yet),
    :class:`NoSuchVersion`; a signer not on the team, :class:`NotOnTeam`. ``via`` records where
    the signature was given (``FindingSignoff.via``); ``allowed`` is :func:`submit`'s."""

    def work(session: Session) -> VersionState:
        hold_teams(session, [round_key])
        team = team_of(session, round_key, credit_code)
        if inspector_id not in team:
            message = f"{inspector_id} is not on the team of {credit_code}"
            raise NotOnTeam(message, [inspector_id], team)
        latest = _latest_of(session, round_key, credit_code)
        if latest is None:
            message = f"no finding has been submitted for {credit_code} in {round_key} yet"
            raise NoSuchVersion(message, version, None)
        if version > latest.version:
            message = (
                f"{round_key}/{credit_code} has no version {version} (latest: {latest.version})"
            )
            raise NoSuchVersion(message, version, latest.version)
        if version < latest.version:
            raise superseded(round_key, credit_code, latest, f"version {version} is superseded")
        return _sign(session, round_key, credit_code, latest, team, [inspector_id], via=via)

    return writes.write(engine, work, what=f"finding {round_key}/{credit_code}", allowed=allowed)


def _sign(
    session: Session,
    round_key: str,
    credit_code: str,
    version: FindingVersion,
    team: Sequence[str],
    inspector_ids: Iterable[str],
    *,
    via: str,
) -> VersionState:
    """Add the sign-off of each of ``inspector_ids`` who has not signed ``version``, each with
    its audit event; the one that completes the team's signatures records it as final."""
    signed = signoffs(session, [version.id]).get(version.id, {})  # type: ignore[list-item,arg-type]
    now = _now()
    for inspector_id in sorted(set(inspector_ids) - set(signed)):
        session.add(
            FindingSignoff(
                version_id=version.id,  # type: ignore[arg-type]
                inspector_id=inspector_id,
                via=via,
                signed_at=now,
            )
        )
        signed[inspector_id] = now
        for hook in after_sign_hooks:
            hook(session, round_key, credit_code, version.version, inspector_id)
        final = version_state(version.version, team, signed).final
        audit.add_to(
            session, round_key, FindingSigned(credit_code, version.version, inspector_id, final)
        )
        logger.info(
            "finding %s/%s v%d signed by %s", round_key, credit_code, version.version, inspector_id
        )
    return version_state(version.version, team, signed)
