"""Wire notifications into the draw and the findings: messages are queued in the
transaction that causes them.

``install()`` appends :func:`after_draw` to ``rounds.service.after_draw_hooks``,
:func:`after_version` to ``findings.service.after_version_hooks``, and the same for a sign-off,
a replacement and a new due date (once); and the followers' turn, shared
(``follow.not_while_following``), to ``rounds.turns``, which a replacement, a new date and a
finding's write take before they lock the round: their hooks write the team's waiting messages
again, as a dispatcher's following does in another order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from findings.models import Finding, FindingVersion
from findings.service import VersionAdded
from notifications import facts, generations
from notifications.links import idempotency_keys
from notifications.messages import (
    AssignmentMessages,
    AssistanceTask,
    Common,
    DueChanged,
    EnterpriseInfo,
    Outgoing,
    Person,
    RoundInfo,
    Submitted,
    TeamChanged,
    assignment_withdrawn_message,
    assistance_message,
    due_changed_message,
    seat_taken,
    signoff_request_message,
    team_changed_message,
)
from notifications.models import Notification, NotificationKind, NotificationStatus
from notifications.outbox import EnqueueResult, add_messages, enqueue_round_assignments
from notifications.rehearsal import rehearse
from notifications.render import language_of
from notifications.settings import NotifySettings
from rounds.models import Assignment, TeamChange
from shuangsui.config import get_settings

logger = logging.getLogger(__name__)
_installed = False


def after_draw(session: Session, rnd: Any, result: Any) -> EnqueueResult:
    """Queue the round's assignment messages and the coordinator's summary; never commits.

    The teams come from the draw's ``result`` as the draw writes them (each check due on the
    round's last day), not read back; without a result they are read."""
    drawn = None if result is None else facts.teams_drawn(result.teams, rnd.window_end)
    queued = enqueue_round_assignments(session=session, round_key=rnd.round_key, teams=drawn)
    if queued.unreachable:
        logger.warning(
            "round %s: %d inspector(s) have no usable channel: %s",
            rnd.round_key, len(queued.unreachable), ", ".join(queued.unreachable),
        )  # fmt: skip
    return queued


def after_version(session: Session, added: VersionAdded) -> None:
    """Ask each member of the team who has not signed the version just added
    (``findings.service.VersionAdded``) to read and sign it: one 待您签字确认 message each,
    with their own link; never commits. A version signed by the whole team asks no one; a
    repeat of the same version and member queues nothing (the message's idempotency key)."""
    earlier = range(1, added.version.version)  # a correction: their requests are moot
    _withdraw(session, added.round_key, added.credit_code, added.team, earlier)
    waiting = [m for m in added.team if m not in added.signers]
    add_messages(
        session, _signoff_requests(session, added.round_key, added.credit_code, added.version,
                                   waiting)
    )  # fmt: skip


def _signoff_requests(
    session: Session, round_key: str, credit_code: str, version: FindingVersion,
    waiting: Sequence[str],
) -> list[Outgoing]:  # fmt: skip
    """The 待您签字确认 message to each of ``waiting`` for ``version`` of the enterprise's
    finding, each with their own link and their seat's due date as it stands (read in the
    transaction: a new date given in it is there)."""
    from findings.categories import RESULT_LABELS, ResultCategory

    if not waiting:
        return []
    common, info = _round_facts(session, round_key)
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    due = dict(
        session.execute(
            sa.select(a.inspector_id, a.due_on).where(
                a.round_key == round_key, a.credit_code == credit_code
            )
        ).all()
    )
    role, _, who = str(version.submitted_by).partition(":")
    people = facts.inspectors(session, [*waiting, who] if role == "inspector" else waiting)
    enterprise = facts.enterprises(session, [credit_code]).get(credit_code)
    if enterprise is None:  # a finding names a drawn enterprise; the registry may lack it now
        enterprise = EnterpriseInfo(credit_code, credit_code)
    result = str(getattr(version.result, "value", version.result))
    messages = []
    for member in waiting:
        person = people.get(member)
        if person is None:  # an assignment names an inspector: not reachable without a row
            continue
        english = language_of(person.language) == "en"
        if role == "inspector":
            submitter = people[who].name if who in people else who
        elif role == "coordinator":
            submitter = f"coordinator {who}" if english else f"协调员 {who}"
        else:
            submitter = str(version.submitted_by)
        submitted = Submitted(
            enterprise, version.version, submitter, result,
            RESULT_LABELS.get(ResultCategory(result), result), version.check_date, version.reason,
        )  # fmt: skip
        messages.append(
            signoff_request_message(common, round_info=info, submitted=submitted,
                                    inspector=person, due_on=due.get(member, info.window_end))
        )  # fmt: skip
    return messages


def after_sign(
    session: Session, round_key: str, credit_code: str, version: int, inspector_id: str
) -> None:
    """A member signed ``version``: a request for that signature (or an earlier version's)
    not sent yet is withdrawn, so no one is asked for a signature they have given."""
    _withdraw(session, round_key, credit_code, [inspector_id], range(1, version + 1))


def after_replacement(session: Session, round_key: str, replaced: Any) -> None:
    """A member replaced on a drawn team (``rounds.replacements.Replaced``): the replacement's
    检查任务通知, with their own link, saying whose seat they take and why (the cause, never
    the reason); the withdrawn member's unsent notice and sign-off requests for that
    enterprise withdrawn (their link no longer opens it), or, their notice gone already, a
    检查任务变更通知; and each member who stays told the team changed. Never commits.

    A member who stays and whose own notice has not gone (:func:`rewrite_unsent`) has it
    written again, naming the team as it stands (the same key, token and link; a member an
    earlier replacement seated still says whose seat they took): told of a
    team they never saw named, they need no 检查组变更通知. A notice gone, or in a
    dispatcher's hands, stays as it was, and its member is told of the change. With a new
    date given, their 待您签字确认 not yet reached them is written again with it too, and
    their reminders of the old date not yet reached them withdrawn, as are the withdrawn
    member's of the enterprise, whatever date (:func:`withdraw_reminders`). A reminder that
    could not be withdrawn (sent, or in a dispatcher's hands) is answered as a notice gone
    is: a member who stays and holds one of the old date gets the 检查组变更通知 saying the
    new date though their notice was written again, and the withdrawn member holding one
    (its link opens nothing now) the 检查任务变更通知 though their notice never went. A link
    of theirs given again (:func:`withdraw_reissued`) is withdrawn and answered alike."""
    w = replaced.replacement.withdrawal
    change = _team_changed(session, replaced)
    notices = _team_notices(session, round_key, change.enterprise)
    add_messages(session, notices)  # the replacement's: the others' keys are there already
    stay = [n for n in notices if n.recipient != change.replacement.inspector_id]
    rewritten = rewrite_unsent(session, stay)
    unsent = idempotency_keys(round_key, NotificationKind.assignment.value)(
        w.withdrawn, w.credit_code
    )
    delete_unsent(session, [unsent], dead=True)  # a dead one retried would open nothing now
    reminded = withdraw_reminders(session, round_key, w.credit_code, [w.withdrawn], keep=None)
    relinked = withdraw_reissued(session, round_key, w.credit_code, w.withdrawn)
    stale = withdraw_reminders(session, round_key, w.credit_code, replaced.team,
                               keep=replaced.due_on)  # fmt: skip
    told_anyway = stale if replaced.due_moved else set()  # a kept date: the reminder holds
    _tell_the_team(session, round_key, replaced, change,
                   notice_kept=kept_notice(session, unsent) or bool(reminded) or relinked,
                   rewritten=rewritten - told_anyway)  # fmt: skip
    latest = _latest_version(session, round_key, w.credit_code)
    versions = range(1, latest.version + 1) if latest is not None else range(0)
    _withdraw(session, round_key, w.credit_code, [w.withdrawn], versions)
    if replaced.due_moved:
        _rewrite_requests(session, round_key, w.credit_code, replaced.team, latest)
    _ask_replacement(session, round_key, replaced, latest)


def _latest_version(session: Session, round_key: str, credit_code: str) -> FindingVersion | None:
    """The enterprise's finding's latest version, None before the first."""
    return session.execute(
        sa.select(FindingVersion)
        .join(Finding, Finding.id == FindingVersion.finding_id)  # type: ignore[arg-type]
        .where(Finding.round_key == round_key, Finding.credit_code == credit_code)  # type: ignore[arg-type]
        .order_by(FindingVersion.version.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).scalar_one_or_none()


def _rewrite_requests(
    session: Session, round_key: str, credit_code: str, team: Sequence[str],
    latest: FindingVersion | None,
) -> None:  # fmt: skip
    """The team's check given a new date: each 待您签字确认 for ``latest`` that has not
    reached its member is written again with the date as it stands (the same key and link),
    as :func:`rewrite_unsent` writes a notice; one sent, or in a dispatcher's hands, stays
    as it was (the member is told the new date otherwise: a 检查期限变更通知, a 检查组变更通知
    or their notice written again). Only rows still there are written: a member who signed
    has none left (:func:`after_sign`), nor has anyone for an earlier version
    (:func:`after_version`)."""
    if latest is not None:
        rewrite_unsent(session, _signoff_requests(session, round_key, credit_code, latest, team))


def _team_changed(session: Session, replaced: Any) -> TeamChanged:
    """The replacement as the team's messages tell it: the people by name (an inspector
    without a registry row by id), the enterprise as registered."""
    w = replaced.replacement.withdrawal
    people = facts.inspectors(session, [w.withdrawn, replaced.replacement.replacement])
    enterprise = facts.enterprises(session, [w.credit_code]).get(w.credit_code)

    def person(inspector_id: str) -> Person:
        return people.get(inspector_id) or Person(inspector_id, inspector_id)

    return TeamChanged(
        n=w.n,
        enterprise=enterprise or EnterpriseInfo(w.credit_code, w.credit_code),
        withdrawn=person(w.withdrawn),
        replacement=person(replaced.replacement.replacement),
        cause=w.cause,
        lead=w.position == 0,
        due_on=replaced.due_on if replaced.due_moved else None,
    )


def after_redate(session: Session, round_key: str, redated: Any) -> None:
    """A team's check given a new date with no one withdrawn (``rounds.redates.Redated``):
    each member whose 检查任务通知 has not reached them (:func:`rewrite_unsent`) has it
    written again with the new date (the same key, token and link); each other member, whose
    notice went with the old date or may go now, is sent a 检查期限变更通知 saying the new one.
    A 待您签字确认 not yet reached its member is written again with the new date too
    (:func:`_rewrite_requests`); a reminder of the old date not yet reached its member is
    withdrawn (:func:`withdraw_reminders`: the follow-up reminds of the new one). A member
    whose reminder of an old date went, or may go now, is sent the 检查期限变更通知 even if
    their notice was written again: it says which date stands. The change notice is keyed by
    the change's number (``DueChanged.n``): a second new date tells again, the hook run again
    in the same change's place tells no one twice. The reason is not told: it stays in the
    audit log. Never commits."""
    enterprise = facts.enterprises(session, [redated.credit_code]).get(redated.credit_code)
    enterprise = enterprise or EnterpriseInfo(redated.credit_code, redated.credit_code)
    notices = _team_notices(session, round_key, enterprise)
    rewritten = rewrite_unsent(session, notices)
    latest = _latest_version(session, round_key, redated.credit_code)
    _rewrite_requests(session, round_key, redated.credit_code, redated.team, latest)
    reminded = withdraw_reminders(session, round_key, redated.credit_code, redated.team,
                                  keep=redated.due_on)  # fmt: skip
    common, info = _round_facts(session, round_key)
    change = DueChanged(redated.n, enterprise, redated.old_due_on, redated.due_on)
    told = [i for i in redated.team if i not in rewritten or i in reminded]
    people = facts.inspectors(session, told)
    add_messages(session, [
        due_changed_message(common, round_info=info, change=change, inspector=people[i])
        for i in told
        if i in people  # an assignment names an inspector: not reachable without a row
    ])  # fmt: skip


def _team_notices(session: Session, round_key: str, enterprise: EnterpriseInfo) -> list[Outgoing]:
    """The 检查任务通知 of each member of the team as it stands (read back: a seat moved and
    any new date are in the transaction); a member a replacement seated says whose seat they
    took (:func:`_seats_taken`), however often their notice is written again."""
    credit_code = enterprise.credit_code
    common, info = _round_facts(session, round_key)
    kinds = facts.round_info(session, round_key)[1]
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    seats = session.execute(
        sa.select(a.inspector_id, a.position, a.due_on)
        .where(a.round_key == round_key, a.credit_code == credit_code)
        .order_by(a.position)
    ).all()
    people = facts.inspectors(session, [i for i, _, _ in seats])
    certificates = facts.certificates(session, [credit_code], kinds).get(credit_code, [])
    return AssignmentMessages(common, info).team(
        enterprise=enterprise,
        certificates=certificates,
        team=[(people.get(i) or Person(i, i), p == 0, due) for i, p, due in seats],
        extra=_seats_taken(session, round_key, credit_code),
    )


def _seats_taken(session: Session, round_key: str, credit_code: str) -> dict[str, dict[str, Any]]:
    """What the notice of each member a replacement seated on the team says besides, by
    inspector id: whose seat they took and why (``seat_taken``: the cause of the
    ``team_change`` row, never its note), the replacement just made among them (read in its
    transaction). Read in order of ``n``: a seat that changed hands twice names the member it
    was last taken from; a member seated and withdrawn since is off the team, and what is
    said of them here is never read. Selected through the model, so the session flushes a
    row it holds first."""
    t = TeamChange
    rows = session.execute(
        sa.select(col(t.withdrawn), col(t.replacement), col(t.cause), col(t.position))
        .where(col(t.round_key) == round_key, col(t.credit_code) == credit_code)
        .order_by(col(t.n))
    ).all()
    people = facts.inspectors(session, [withdrawn for withdrawn, _, _, _ in rows])
    return {
        replacement: seat_taken(people.get(withdrawn) or Person(withdrawn, withdrawn), cause,
                                position == 0)
        for withdrawn, replacement, cause, position in rows
    }  # fmt: skip


def rewrite_unsent(session: Session, notices: Sequence[Outgoing]) -> set[str]:
    """Write each of these notices again over the row of its key if that row has not reached
    its recipient: waiting to go, to be retried, or given up on (``notifications retry`` sends
    it as it stands), and not leased. A leased row is in a dispatcher's hands and may be on
    its way now (a dispatcher renews the lease of what it has sent until the sending is
    recorded): it stays as it was. The recipients whose notice now reads as written here.

    A dispatcher's claim and this update take the row in turn: a claim made first leaves the
    row leased, which this update then leaves alone (PostgreSQL checks the condition again on
    the row the claim committed); one made after skips the row until this transaction ends."""
    table = Notification.__table__  # type: ignore[attr-defined]
    n = table.c
    not_reached = [s.value for s in (NotificationStatus.pending, NotificationStatus.failed,
                                     NotificationStatus.dead)]  # fmt: skip
    now = datetime.now(UTC)  # one moment for the team's notices: a lease ended by then
    secret = get_settings().secret_key.get_secret_value()  # a link ended since: the new one
    notices = generations.current_links(session, list(notices), secret)
    rewritten: set[str] = set()
    for out in notices:
        done = session.execute(
            sa.update(table)
            .where(
                n.idempotency_key == out.idempotency_key,
                n.status.in_(not_reached),
                sa.or_(n.lease_until.is_(None), n.lease_until < now),
            )
            .values(
                channel=out.channel,
                address=out.address,
                language=out.language,
                subject=out.subject,
                body=out.body,
                payload=out.payload,
            )
        )
        if done.rowcount:  # type: ignore[attr-defined]
            rewritten.add(out.recipient)
    return rewritten


def _tell_the_team(
    session: Session, round_key: str, replaced: Any, change: TeamChanged, *, notice_kept: bool,
    rewritten: set[str],
) -> None:  # fmt: skip
    """A 检查组变更通知 to each member who stays, but those whose notice was written again
    (``rewritten``: it names the team as it stands), and a 检查任务变更通知 to the member
    withdrawn when their 检查任务通知 or a reminder with its link was not withdrawn
    (``notice_kept``: it went, or is in a dispatcher's hands and may go now): a notice never
    sent needs no correction.
    Each keyed by the replacement's number, so a repeat of the hook queues nothing more."""
    common, info = _round_facts(session, round_key)
    withdrawn = change.withdrawn.inspector_id
    stay = [i for i in replaced.team if i != change.replacement.inspector_id and i not in rewritten]
    people = facts.inspectors(session, [*stay, withdrawn])
    messages = [
        team_changed_message(common, round_info=info, change=change, inspector=people[i])
        for i in stay
        if i in people  # an assignment names an inspector: not reachable without a row
    ]
    if notice_kept and withdrawn in people:
        messages.append(assignment_withdrawn_message(common, round_info=info, change=change))
    add_messages(session, messages)


def kept_notice(session: Session, idempotency_key: str) -> bool:
    """The message of this key is left after :func:`delete_unsent`, and went or may go now
    (sent, or in a dispatcher's hands); a dead one never reached its recipient."""
    n = Notification.__table__.c  # type: ignore[attr-defined]
    stmt = sa.select(
        sa.exists().where(
            n.idempotency_key == idempotency_key, n.status != NotificationStatus.dead.value
        )
    )
    return bool(session.execute(stmt).scalar())


def _ask_replacement(
    session: Session, round_key: str, replaced: Any, latest: FindingVersion | None
) -> None:
    """The finding's latest version, not final (a replacement is refused once it is), waits for
    the replacement's signature as for every member's: they are asked for it as a member is
    when a version is added (:func:`after_version`), not only by the reminder days before the
    deadline. The other members were asked when it was added."""
    if latest is None:
        return
    w = replaced.replacement.withdrawal
    newcomer = (replaced.replacement.replacement,)
    after_version(session, VersionAdded(round_key, w.credit_code, latest, newcomer, ()))


def _withdraw(
    session: Session, round_key: str, credit_code: str, members: Sequence[str],
    versions: Iterable[int],
) -> None:  # fmt: skip
    """Delete the sign-off requests to ``members`` for ``versions`` of the enterprise that are
    still waiting to go (pending or to be retried) and not in a dispatcher's hands (leased):
    never sent, they are withdrawn, not history. One that went already stays as it was."""
    keys = idempotency_keys(round_key, NotificationKind.signoff_request.value)
    delete_unsent(session, [keys(m, f"{credit_code}|v{v}") for v in versions for m in members])


def delete_unsent(session: Session, withdrawn: Sequence[str], *, dead: bool = False) -> None:
    """Delete the messages of these idempotency keys still waiting to go and not leased; with
    ``dead``, those given up on too (``notifications retry`` would send them again)."""
    if not withdrawn:
        return
    table = Notification.__table__  # type: ignore[attr-defined]
    n = table.c
    unsent = [NotificationStatus.pending.value, NotificationStatus.failed.value]
    session.execute(
        sa.delete(table).where(
            n.idempotency_key.in_(withdrawn),
            n.status.in_([*unsent, NotificationStatus.dead.value] if dead else unsent),
            sa.or_(n.lease_until.is_(None), n.lease_until < datetime.now(UTC)),
        )
    )


def withdraw_reissued(session: Session, round_key: str, credit_code: str, member: str) -> bool:
    """A member withdrawn from the enterprise's team (:func:`after_replacement`): their
    检查链接重新发送 of that check not yet reached them (waiting, to be retried, or given up
    on; not leased: :func:`delete_unsent`) deleted, its link opening nothing now. Whether
    one is left (sent, or in a dispatcher's hands): they are then told the check is no longer
    theirs."""
    n = Notification.__table__.c  # type: ignore[attr-defined]
    mine = sa.select(n.idempotency_key, n.payload).where(
        n.round_key == round_key,
        n.kind == NotificationKind.link_reissued.value,
        n.recipient == member,
    )
    keys = [
        key for key, payload in session.execute(mine) if payload.get("credit_code") == credit_code
    ]
    if not keys:
        return False
    delete_unsent(session, keys, dead=True)
    left = sa.select(sa.func.count()).where(n.idempotency_key.in_(keys))
    return bool(session.execute(left).scalar())


def withdraw_reminders(
    session: Session, round_key: str, credit_code: str, members: Sequence[str], *,
    keep: date | None,
) -> set[str]:  # fmt: skip
    """Delete ``members``' reminders of the enterprise's check that name a date other than
    ``keep`` (with None, every one: a member withdrawn no longer checks it) and have not
    reached them: waiting, to be retried or given up on (``notifications retry`` would send
    it as it stands), and not leased (:func:`delete_unsent`). Queued a few working days
    before the old date, each would tell a date that no longer holds. The members who still
    have one of those reminders: it could not be withdrawn.

    A reminder sent, or in a dispatcher's hands (leased, a retry among them), stays as it
    was: it went, or may go now. Its member is to be told what stands even when their
    检查任务通知 is written again with it (the caller sends the 检查期限变更通知, the
    检查组变更通知 or the 检查任务变更通知): a notice saying one date and a reminder another
    say nothing of which holds. Read after the delete, in its transaction: a dispatcher's
    claim that the delete waited for leaves the row, and it is counted. A reminder's key ends
    with its date (``outbox.enqueue_reminders``): the follow-up reminds of the new date under
    a key of its own, once, when it comes near; and of an old date again should the check
    come back to it, its reminder deleted here."""
    n = Notification.__table__.c  # type: ignore[attr-defined]
    reminders = sa.select(n.idempotency_key, n.recipient, n.payload).where(
        n.round_key == round_key,
        n.kind == NotificationKind.reminder.value,
        n.recipient.in_(list(members)),
    )
    kept = None if keep is None else keep.isoformat()
    stale = [
        key
        for key, _, payload in session.execute(reminders)
        if payload.get("credit_code") == credit_code and payload.get("due_on") != kept
    ]
    if not stale:
        return set()
    delete_unsent(session, stale, dead=True)
    left = session.execute(reminders.where(n.idempotency_key.in_(stale)))
    return {recipient for _, recipient, _ in left}


def _round_facts(session: Session, round_key: str) -> tuple[Common, RoundInfo]:
    """The run's and the round's part of every message, read once per session (a findings
    import adds a version per row in one transaction)."""
    known: dict[str, tuple[Common, RoundInfo]] = session.info.setdefault("signoff_facts", {})
    if round_key not in known:
        common = facts.common(notify=NotifySettings())
        known[round_key] = (common, facts.round_info(session, round_key)[0])
    return known[round_key]


def after_assistance(session: Session, case: Any, request: dict[str, Any]) -> None:
    """The 协查任务通知 to each member of the team drawn for a partner's request we accepted
    (``exchange.assistance``), in the answer's transaction: the team is told if and only if
    the answer is shared, and once (the idempotency key is the request's and the member's).
    A declined request tells no one. Never commits."""
    from exchange.directory import read_directory
    from registry.models import CheckItem, certificate_kind_label

    answer = case.answer or {}
    if case.status != "accepted" or not answer.get("team"):
        return
    team = [str(i) for i in answer["team"]]
    people = facts.inspectors(session, team)
    code = case.credit_code
    firm = facts.enterprises(session, [code]).get(code) or EnterpriseInfo(code, code)
    item = session.get(CheckItem, case.check_item)
    partner = read_directory().partners.get(case.requester)
    window = request.get("window") or {}
    task = AssistanceTask(
        key=f"assistance:{case.requester}/{case.request_id}", request_id=case.request_id,
        partner=f"{partner.name if partner else case.requester}（{case.requester}）",
        enterprise=firm,
        check_item=f"{case.check_item} {item.name}" if item else case.check_item,
        cert_kinds=[certificate_kind_label(str(k)) for k in request.get("cert_kinds", [])],
        window_start=str(window.get("start", "")), window_end=str(window.get("end", "")),
        reason=str(request.get("reason", "")), team=[people[i] for i in team if i in people],
    )  # fmt: skip
    common = facts.common(notify=NotifySettings())
    add_messages(session, [
        assistance_message(common, task=task, inspector=people[i]) for i in team if i in people
    ])  # fmt: skip


def install() -> None:
    global _installed
    if _installed:
        return
    from exchange import assistance
    from findings import service as findings_service
    from notifications.follow import not_while_following
    from rounds import redates, replacements, service, turns

    if after_draw not in service.after_draw_hooks:
        service.after_draw_hooks.append(after_draw)
    if rehearse not in service.before_draw_hooks:
        service.before_draw_hooks.append(rehearse)
    if after_version not in findings_service.after_version_hooks:
        findings_service.after_version_hooks.append(after_version)
    if after_sign not in findings_service.after_sign_hooks:
        findings_service.after_sign_hooks.append(after_sign)
    if after_replacement not in replacements.after_replacement_hooks:
        replacements.after_replacement_hooks.append(after_replacement)
    if after_redate not in redates.after_redate_hooks:
        redates.after_redate_hooks.append(after_redate)
    if not_while_following not in turns.before_change:  # a change waits for a following
        turns.before_change.append(not_while_following)
    if after_assistance not in assistance.after_answer_hooks:
        assistance.after_answer_hooks.append(after_assistance)
    _installed = True
