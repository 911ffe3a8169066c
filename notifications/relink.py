"""An open check's link given again (``shuangsui notifications relink``): after the secret key
was rotated, when every link sent before no longer opens, or to a member who lost their notice.

A link is an HMAC under ``SHUANGSUI_SECRET_KEY`` over (round, enterprise, inspector), nothing
stored (``notifications.links``): a message holds the link of the key it was written under.
Giving it again is one message, the 检查链接重新发送, to each member of each check of the round
that is still open: its finding not final, the member on the team as it stands (one replaced
has no seat, so none). Each says what became of the link the member was sent before: made
under another key, it no longer opens; the same link (the key unchanged), it still opens.

A message of the member's on that check that holds a link and has not reached them (waiting,
to be retried, or given up on: ``notifications retry`` sends a message as it stands) is
written again with the current link and token where the old ones stood, and to the member's
address in the registry now, as ``hooks.rewrite_unsent`` writes a notice again, so no message
that leaves after a relink carries a dead link, or goes to an address corrected since. One
sent, or in a dispatcher's hands (leased: it may be going now), stays as it was; its link is
what the new message speaks of. A dispatcher's claim writes the messages it took again as
well (``notifications.follow``); a relink and a following take turns (``follow.one_at_a_time``,
taken first): on PostgreSQL the two, each writing the member's messages in its own order,
deadlocked, and the one failed either sent its messages with the dead link or was the
rotation's step to run again.

One member of one check may have the old link ended as well (``end_old``: a phone lost, a
notice forwarded to someone who must not have it): the member's link is made of the next
generation (``notifications.generations``), which the token check takes from then on, and the
message says the earlier link no longer opens. Every other link, the member's to other checks
and the other members', is untouched. Ended once per form sent (the generation it showed);
a link no message has carried out yet (sent or tried: ``generations.left``) is not ended,
whatever reason is given and whichever generation it is: the member's first link while their
notice waits untried, the new link an ending made (the same command twice, two processes at
once, two coordinators with two causes: docs/workspace.md, "Two endings of one link" and "A
link never sent"); the message then says no earlier link reached them, or that the earlier
one was ended. Once it has left, an ending ends it (the member lost it as well:
``generations.end``); given again for the same reason, the command queues nothing more either
(the message's key, below).

Every link of the round is made of its seat's current generation (0, today's token, for a
seat never ended), here and in the messages written again.

Idempotent: the message's key is the check's, the member's and a digest of the link's token
and the reason (``links.reissue_subject``): the command run again for the same reason queues
nothing more; after a further rotation (a new token), or for another reason, it queues anew.
A message queued anew takes the place of the member's 检查链接重新发送 of that check an
earlier run queued that has not left (waiting, never tried, not in a dispatcher's hands:
``generations.untried``), which is withdrawn: the member gets one message holding their link,
saying what is true when it is queued, not two holding the same link (a second coordinator,
another cause, before the first's was sent). One that has left stays; the new one goes beside
it. Each run is an audit entry (who, why, to whom, how many it took the place of), in the
transaction that queues the messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from sqlmodel import Session

from findings.models import Finding, FindingSignoff, FindingVersion
from findings.state import is_final
from notifications import facts, generations, link_key
from notifications.follow import one_at_a_time
from notifications.generations import LINK_KINDS, LinkGeneration
from notifications.links import assignment_tokens, idempotency_keys, reissue_subject
from notifications.messages import (
    Common,
    EnterpriseInfo,
    Outgoing,
    Reissued,
    link_reissued_message,
    route,
)
from notifications.models import Channel, Notification, NotificationKind, NotificationStatus
from notifications.outbox import add_messages
from notifications.settings import NotifySettings
from registry.models import Inspector
from rounds import audit
from rounds.models import Assignment, Round, RoundStatus
from rounds.replacements import NOTE_MAX
from shuangsui.errors import UserError
from shuangsui.text import no_control, no_control_in_text

logger = logging.getLogger(__name__)
KIND = NotificationKind.link_reissued
_NOT_REACHED = [s.value for s in (NotificationStatus.pending, NotificationStatus.failed,
                                  NotificationStatus.dead)]  # fmt: skip

# (session, round_key, credit_code, members) -> why each member's link would not open, by id
Refusals = Callable[[Session, str, str, Sequence[str]], Mapping[str, str]]

_NOT_DRAWN = {
    RoundStatus.committed.value: "it is not drawn yet: no link was sent",
    RoundStatus.failed.value: "its draw failed: no link was sent",
    RoundStatus.closed.value: "it is closed: every finding is final and published",
}


class Refused(UserError):
    """A relink refused, naming the option; ``kind`` for a page that says it in its own words
    (``workspace.relinks``)."""

    KINDS = ("by", "reason", "reason-long", "reason-unprintable", "inspector-unprintable",
             "no-round", "not-drawn", "no-inspector", "not-on-team", "all-final",
             "end-old", "stale-key")  # fmt: skip

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class NoneOpen(Exception):
    """A round relinked with ``none_open`` has no open check: nothing sent, nothing written
    (not an error: ``--all-open`` names the round as passed over)."""


@dataclass(frozen=True)
class LinksReissued:
    """Audit event: the links of a round's open checks given again (``inspector``: only that
    member's; empty, every member's), by whom and why; the members sent one, the messages
    queued, those an earlier run queued for the same reason and key, the waiting messages
    written again with the current link, and each member left out with why."""

    by: str
    reason: str
    inspector: str
    inspectors: list
    queued: int
    already: int
    rewritten: int
    left_out: list  # [inspector_id, credit_code, why]
    replaced: int = 0  # the members' 检查链接重新发送 of an earlier run withdrawn, never sent
    credit_code: str = ""  # only this check's (``--credit-code``, the enterprise page's form)


@dataclass(frozen=True)
class Relinked:
    """What a relink did: (inspector_id, credit_code) of each message queued now and of each
    an earlier run queued; how many waiting messages were written again with the current link;
    each seat left out (inspector_id, credit_code, why); members with no usable channel."""

    queued: list[tuple[str, str]]
    already: list[tuple[str, str]]
    rewritten: int
    left_out: list[tuple[str, str, str]]
    unreachable: list[str]
    # ``end_old``: the generation the member's link is of now, and whether this run ended one;
    # when it did not, the ending that made the current link (when, by whom, why)
    generation: int = 0
    ended: bool = False
    ended_before: LinkGeneration | None = None
    # ``rotate``: the fingerprint of the key this run's recorded as current replaced (link_key)
    key_replaced: str = ""
    # the seats whose 检查链接重新发送 of an earlier run, not yet left, this one took the place of
    replaced: list[tuple[str, str]] = field(default_factory=list)
    # nothing ended because the current link has not left (``generations.left``), not because
    # the generation the page showed was ended before (``seen_generation`` below the current)
    unsent: bool = False


@dataclass(frozen=True)
class Seat:
    credit_code: str
    inspector_id: str


def relink(
    session: Session, *, round_key: str, inspector_id: str | None = None, by: str, reason: str,
    credit_code: str | None = None, refusals: Refusals | None = None,
    common: Common | None = None, none_open: bool = False, end_old: bool = False,
    seen_generation: int | None = None, rotate: bool = False,
) -> Relinked:  # fmt: skip
    """Give the links of ``round_key``'s open checks again (only ``inspector_id``'s, only the
    check of ``credit_code``, when given), in the caller's transaction; never commits.
    ``refusals``: why a member's link would not open now (revoked, inactive, expired:
    ``api.inspector_tokens``), a member left out with it, since a new message would carry a
    link refused all the same. ``none_open``: a round with no open check raises
    :class:`NoneOpen`, nothing written (``--all-open`` passes it over), instead of an audit
    entry that queued nothing. ``end_old`` (only with ``inspector_id`` and ``credit_code``):
    the member's link ended first and the new one sent (:func:`generations.end`, once per
    ``seen_generation``, the generation the page showed, or, with none, per reason); the
    member left out (revoked, inactive, expired) ends nothing. ``rotate`` (the command, run
    where the key is set): the key links are made under is recorded as the current one
    (``link_key.record``); otherwise (the workspace's form, under ``serve``'s key) another key
    recorded refuses the relink (``stale-key``), nothing written."""
    by, reason = checked_note(by, reason)
    try:  # never looked up: PostgreSQL cannot compare a NUL
        no_control(inspector_id or "")
    except ValueError as exc:
        raise Refused("inspector-unprintable", f"--inspector: {exc}") from None
    if end_old and (inspector_id is None or credit_code is None):
        raise Refused("end-old", "--end-old: only with --inspector and --credit-code: it ends "
                      "the link of one member of one check")  # fmt: skip
    one_at_a_time(session.connection())  # the dispatchers' following waits, or is waited for
    seats = _open_seats(session, round_key, inspector_id, credit_code)
    if none_open and not seats:
        raise NoneOpen(f"round {round_key} has no open check (every finding is final)")
    common = common or facts.common(notify=NotifySettings())
    key_replaced = _key_recorded(session, common.secret, by, rotate)
    left_out = _refused(session, round_key, seats, refusals)
    people = facts.inspectors(session, sorted({s.inspector_id for s in seats}))
    for s in seats:
        if s.inspector_id not in people:  # an assignment names an inspector: no row, no address
            left_out[(s.inspector_id, s.credit_code)] = "not in the registry: no address"
    live = [s for s in seats if (s.inspector_id, s.credit_code) not in left_out]
    ended_now, now_at, before = False, 0, None
    if end_old and live:
        assert inspector_id is not None and credit_code is not None
        now_at, ended_now = generations.end(
            session, round_key=round_key, credit_code=credit_code, inspector_id=inspector_id,
            by=by, reason=reason, seen=seen_generation, secret=common.secret,
        )  # fmt: skip
        if not ended_now:
            before = generations.latest_ending(session, round_key, credit_code, inspector_id)
    current = generations.current(session, round_key, credit_code)
    made = assignment_tokens(common.secret, round_key)

    def token(code: str, member: str) -> str:
        return made(code, member, current.get((code, member), 0))

    routes = {member: route(person) for member, person in people.items()}
    key = idempotency_keys(round_key, KIND.value)
    replaced = _withdraw_waiting(session, round_key, {
        (s.inspector_id, s.credit_code): key(s.inspector_id, reissue_subject(
            s.credit_code, token(s.credit_code, s.inspector_id), reason)) for s in live
    })  # fmt: skip
    rewritten, reached = _rewrite_links(session, round_key, live, token, routes)
    info = facts.round_info(session, round_key)[0]
    firms = facts.enterprises(session, sorted({s.credit_code for s in live}))
    messages = []
    for s in live:
        now = token(s.credit_code, s.inspector_id)
        held = reached.get((s.inspector_id, s.credit_code), set())
        gone = {made(s.credit_code, s.inspector_id, g)  # this key's links ended before
                for g in range(current.get((s.credit_code, s.inspector_id), 0))}  # fmt: skip
        earlier = ("same" if now in held else "ended" if held & gone else "changed" if held
                   else "none")  # fmt: skip
        if end_old and (ended_now or before is not None):
            earlier = "ended"  # a link never sent and not ended is the same link: said as such
        firm = firms.get(s.credit_code) or EnterpriseInfo(s.credit_code, s.credit_code)
        said = Reissued(firm, earlier, reissue_subject(s.credit_code, now, reason),
                        current.get((s.credit_code, s.inspector_id), 0))  # fmt: skip
        messages.append(link_reissued_message(common, round_info=info, reissued=said,
                                              inspector=people[s.inspector_id]))  # fmt: skip
    present = _present(session, [m.idempotency_key for m in messages])
    add_messages(session, messages)
    new = [m for m in messages if m.idempotency_key not in present]
    done = Relinked(
        queued=_seats_of(new),
        already=_seats_of([m for m in messages if m.idempotency_key in present]),
        rewritten=rewritten,
        left_out=[(i, code, why) for (i, code), why in sorted(left_out.items())],
        unreachable=sorted({m.recipient for m in new if m.channel == Channel.none}),
        generation=now_at,
        ended=ended_now,
        ended_before=before,
        replaced=replaced,
        key_replaced=key_replaced,
        unsent=end_old and bool(live) and not ended_now and seen_generation in (None, now_at),
    )
    audit.add_to(session, round_key, LinksReissued(
        by=by, reason=reason, inspector=inspector_id or "",
        inspectors=sorted({i for i, _ in done.queued}), queued=len(done.queued),
        already=len(done.already), rewritten=rewritten, replaced=len(replaced),
        left_out=[list(row) for row in done.left_out], credit_code=credit_code or "",
    ))  # fmt: skip
    return done


def _key_recorded(session: Session, secret: str, by: str, rotate: bool) -> str:
    """``secret``'s fingerprint recorded as the current key (``rotate``), the one it replaced
    given back; or checked against the one recorded, refused when another."""
    mine, conn = link_key.fingerprint(secret), session.connection()
    if rotate:
        return link_key.record(conn, mine, by=f"notifications relink, by {by}") or ""
    try:
        link_key.check(conn, mine, who=f"a relink by {by}")
    except link_key.StaleKey as exc:
        logger.error("%s; the relink by %s refused", exc, by)
        raise Refused("stale-key", str(exc)) from None
    return ""


def checked_note(by: str, reason: str) -> tuple[str, str]:
    """Who sends the links again and why (for the audit log), stripped; refused naming the
    option when blank, too long or holding a control character."""
    by, reason = by.strip(), reason.strip()
    if not by:
        raise Refused("by", "--by: say who sends the links again (a name, kept in the audit log)")
    if not reason:
        raise Refused(
            "reason", "--reason: say why the links are sent again (kept in the audit log)"
        )
    if len(reason) > NOTE_MAX:
        raise Refused("reason-long", f"--reason: {len(reason)} characters, at most {NOTE_MAX}")
    try:
        no_control_in_text(reason)
    except ValueError as exc:
        raise Refused("reason-unprintable", f"--reason: {exc}") from None
    return by, reason


def _seats_of(messages: Sequence[Outgoing]) -> list[tuple[str, str]]:
    return [(m.recipient, m.payload["credit_code"]) for m in messages]


def _open_seats(
    session: Session, round_key: str, inspector_id: str | None, credit_code: str | None
) -> list[Seat]:
    """The seats of the round's checks whose finding is not final (``findings.state``), as
    the teams stand; only ``inspector_id``'s, only ``credit_code``'s, when given. Refused,
    naming the option, for a round that has no links out, or an inspector with no open check
    in it. The round's row is
    locked first, as its changes lock it (``rounds.replacements.drawn_round``): a member
    replaced, or a new date given, meanwhile, is read before or after, never half made."""
    rnd = session.get(Round, round_key, with_for_update=True)
    if rnd is None:
        raise Refused("no-round", f"--round: no round {round_key!r}")
    status = str(getattr(rnd.status, "value", rnd.status))
    if status != RoundStatus.drawn.value:
        raise Refused("not-drawn", f"--round: round {round_key} has no link to send again: "
                      f"{_NOT_DRAWN.get(status, status)}")  # fmt: skip
    a = Assignment.__table__.c  # type: ignore[attr-defined]
    teams_of = sa.select(a.credit_code, a.inspector_id).where(a.round_key == round_key)
    if credit_code is not None:
        teams_of = teams_of.where(a.credit_code == credit_code)
    rows = session.execute(teams_of.order_by(a.credit_code, a.position)).all()
    teams: dict[str, set[str]] = {}
    for code, member in rows:
        teams.setdefault(code, set()).add(member)
    done = {code for code, versions in _signers(session, round_key).items()
            if any(is_final(teams.get(code, ()), signed) for signed in versions)}  # fmt: skip
    seats = [Seat(code, member) for code, member in rows if code not in done]
    if inspector_id is None:
        return seats
    mine = [s for s in seats if s.inspector_id == inspector_id]
    if not mine:
        if session.get(Inspector, inspector_id) is None:
            raise Refused(
                "no-inspector", f"--inspector: no inspector {inspector_id!r} in the registry"
            )
        where = (
            f"round {round_key}" if credit_code is None else f"{credit_code} in round {round_key}"
        )
        if any(member == inspector_id for _, member in rows):
            raise Refused("all-final", f"--inspector: every check of {inspector_id} in {where} "
                          "is final: no link to send again")  # fmt: skip
        team = "on no team of" if credit_code is None else "not on the team of"
        raise Refused("not-on-team", f"--inspector: {inspector_id} is {team} {where} "
                      "(never drawn, or replaced)")  # fmt: skip
    return mine


def _signers(session: Session, round_key: str) -> dict[str, list[set[str]]]:
    """Who signed each version of each of the round's findings, by credit code."""
    f = Finding.__table__.c  # type: ignore[attr-defined]
    v = FindingVersion.__table__.c  # type: ignore[attr-defined]
    s = FindingSignoff.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(f.credit_code, v.version, s.inspector_id)
        .join(FindingVersion.__table__, v.finding_id == f.id)  # type: ignore[attr-defined]
        .outerjoin(FindingSignoff.__table__, s.version_id == v.id)  # type: ignore[attr-defined]
        .where(f.round_key == round_key)
    )
    versions: dict[str, dict[int, set[str]]] = {}
    for code, version, member in rows:
        signed = versions.setdefault(code, {}).setdefault(version, set())
        if member is not None:
            signed.add(member)
    return {code: list(by_version.values()) for code, by_version in versions.items()}


def _refused(
    session: Session, round_key: str, seats: Sequence[Seat], refusals: Refusals | None
) -> dict[tuple[str, str], str]:
    """Why each seat's link would not open, by (inspector_id, credit_code)."""
    out: dict[tuple[str, str], str] = {}
    if refusals is None:
        return out
    teams: dict[str, list[str]] = {}
    for s in seats:
        teams.setdefault(s.credit_code, []).append(s.inspector_id)
    for code, members in teams.items():
        for member, why in refusals(session, round_key, code, members).items():
            out[(member, code)] = why
    return out


def _token_of(link: str) -> str:
    return (parse_qs(urlsplit(link).query).get("token") or [""])[0]


def _rewrite_links(
    session: Session, round_key: str, seats: Sequence[Seat], token: Callable[[str, str], str],
    routes: Mapping[str, tuple[Channel, str]],
) -> tuple[int, dict[tuple[str, str], set[str]]]:  # fmt: skip
    """Write each message of these seats' members on their check that has not reached them
    (waiting, to be retried, given up on; not leased: ``hooks.rewrite_unsent``) and holds
    another link than the current one, or goes to another address than the member's now
    (``routes``: an address corrected in the registry since it was queued; a member with none
    now keeps the one it has), again with the current link and token where the old ones stood
    (in the subject, the body, the payload) and to the current address, as a notice written
    again for a new date is. How many were written, and the tokens of the links that reached
    each seat's member or may be reaching them now (sent, or leased), by (inspector_id,
    credit_code)."""
    wanted = {(s.inspector_id, s.credit_code) for s in seats}
    table = Notification.__table__  # type: ignore[attr-defined]
    n = table.c
    rows = session.execute(
        sa.select(n.id, n.recipient, n.status, n.subject, n.body, n.payload, n.channel,
                  n.address).where(n.round_key == round_key, n.kind.in_(LINK_KINDS))
        .order_by(n.id)  # rows written in one order by every writer: no two wait on each other
    ).all()  # fmt: skip
    now = datetime.now(UTC)
    rewritten = 0
    reached: dict[tuple[str, str], set[str]] = {}
    for row_id, member, status, subject, body, payload, channel, address in rows:
        seat = (member, payload.get("credit_code"))
        link = payload.get("link")
        if seat not in wanted or not link:
            continue
        old, new = _token_of(link), token(seat[1], member)
        values: dict[str, object] = {}
        if old != new and old:
            values.update(subject=subject.replace(old, new), body=body.replace(old, new),
                          payload={**payload, "link": link.replace(old, new)})  # fmt: skip
        to, at = routes.get(member, (Channel.none, ""))
        if to != Channel.none and (Channel(channel), address) != (to, at):
            values.update(channel=to, address=at)
        if values and str(status) in _NOT_REACHED:
            done = session.execute(
                sa.update(table)
                .where(
                    n.id == row_id,
                    n.status.in_(_NOT_REACHED),
                    sa.or_(n.lease_until.is_(None), n.lease_until < now),
                )
                .values(**values)
            )
            if done.rowcount:  # type: ignore[attr-defined]
                rewritten += 1
                continue
            reached.setdefault(seat, set()).add(old)  # leased: it may be going now
        elif str(status) == NotificationStatus.sent.value:
            reached.setdefault(seat, set()).add(old)
    return rewritten, reached


def _withdraw_waiting(
    session: Session, round_key: str, keys: Mapping[tuple[str, str], str]
) -> list[tuple[str, str]]:
    """Delete each seat's 检查链接重新发送 of an earlier run (another reason, another link)
    that has not left (waiting, never tried, not in a dispatcher's hands:
    ``generations.untried``): the one queued now, of key ``keys[seat]``, takes its place,
    so the member gets one message holding their link, saying what is true when it is
    queued, not two holding the same link. One that has left (sent, leased, tried: it may
    have reached them) stays as it was. The seats (inspector_id, credit_code) whose message
    was withdrawn; each run is in the audit log with its reason all the same."""
    if not keys:
        return []
    table = Notification.__table__  # type: ignore[attr-defined]
    n = table.c
    waiting = sa.and_(n.round_key == round_key, n.kind == KIND.value,
                      generations.untried(datetime.now(UTC)))  # fmt: skip
    members = sorted({member for member, _ in keys})
    rows = session.execute(sa.select(n.id, n.recipient, n.payload, n.idempotency_key)
                           .where(waiting, n.recipient.in_(members))).all()  # fmt: skip
    seats = {row_id: (member, payload.get("credit_code"))
             for row_id, member, payload, key in rows
             if keys.get((member, payload.get("credit_code")), key) != key}  # fmt: skip
    if not seats:
        return []
    gone = session.execute(sa.delete(table).where(n.id.in_(list(seats)), waiting)
                           .returning(n.id)).scalars()  # fmt: skip
    return sorted({seats[row_id] for row_id in gone})


def _present(session: Session, keys: list[str]) -> set[str]:
    n = Notification.__table__.c  # type: ignore[attr-defined]
    present: set[str] = set()
    for chunk in facts._chunks(keys):
        present.update(session.execute(sa.select(n.idempotency_key).where(
            n.idempotency_key.in_(chunk))).scalars())  # fmt: skip
    return present
