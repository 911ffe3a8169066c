"""Apply a partner's verified entries, idempotently, in the caller's transaction.

Every entry is kept (``partner_entry``); results feed mutual recognition and the combined
view; assistance requests addressed to us open an incoming case; answers and results for our
own requests move our outgoing case on. An entry of a kind this shuangsui does not know is
kept unread (kind ``?<kind>``, no other column read from it) and applied by the first sync of
a shuangsui that knows the kind (``reread``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from exchange.directory import Partner
from exchange.entries import UNREAD, iso, known, parse_entry, unread_marks
from exchange.errors import EntryRefused, SyncRejected
from exchange.models import UNREAD_ROWS, AssistanceCase, PartnerEntry
from exchange.settings import exchange_settings, origin_of
from exchange.unopened import credit_code, no_case
from shuangsui.clock import local_time
from shuangsui.text import CONTROL

logger = logging.getLogger(__name__)

ITEM_LENGTH = 200  # a partner's check item code kept in its column: PostgreSQL's index holds it
# The longest entry id (and assistance request id) a partner's entry may give: each is kept in
# an indexed column, and PostgreSQL's index holds at most 2,704 bytes a row (512 characters
# of 4 bytes and the row's own). shuangsui writes ids of some 40 to 100 characters.
ID_LENGTH = 512
# Called with (session, case) in the pull's transaction when a partner's assistance request to
# us opens an incoming case: the leads record it as a lead (leads/hooks.py).
case_opened_hooks: list[Callable[[Session, AssistanceCase], None]] = []


@dataclass(frozen=True)
class Verified:
    """One entry of a partner's log, verified against its signed checkpoint."""

    seq: int
    data: bytes
    doc: dict[str, Any]
    leaf_hash: bytes


def _item(value: Any) -> str | None:
    """A check item code from a partner's body, for the ``check_item`` column, as
    :func:`exchange.unopened.credit_code` takes a credit code: on PostgreSQL a NUL in it, or
    a code too long for the column's index, made the insert fail, and with it every sync of
    that partner, for good."""
    if isinstance(value, str) and len(value) <= ITEM_LENGTH and not CONTROL.search(value):
        return value
    return None


def _an_id(e: Verified, partner: Partner) -> None:
    """EntryRefused, naming the partner, entry and field, for an id no index holds. On
    PostgreSQL one of 5,000 characters made the insert fail (``index row size … exceeds
    btree version 4 maximum 2704``), recorded as our own fault (``error``), at the same entry
    at every sync: nothing of that partner was applied again. Refused as any malformed entry
    is (the id is the key other entries name: it is not shortened)."""
    if len(e.doc["id"]) > ID_LENGTH:
        what = f"id: {len(e.doc['id'])} characters, at most {ID_LENGTH}"
        raise EntryRefused(partner.code, e.seq, what)


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def logged_at(at: Any, stored: dt.datetime) -> dt.datetime:
    """When a partner logged an entry: its ``at`` (``YYYY-MM-DDTHH:MM:SSZ``), never later than
    ``stored`` (our clock when we took the entry; naive is UTC) plus
    ``SHUANGSUI_EXCHANGE_SIGNATURE_MAX_AGE``, however far ahead the partner wrote it; an ``at``
    not of that form is taken as that bound. A result inspected after the day (China's time)
    of this moment had not happened: it counts for no draw (:func:`_inspected` when it is
    stored, ``exchange.recognition`` when a draw reads it)."""
    if stored.tzinfo is None:
        stored = stored.replace(tzinfo=dt.UTC)
    bound = stored + dt.timedelta(seconds=exchange_settings().exchange_signature_max_age)
    try:
        said = dt.datetime.strptime(str(at), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return bound
    return min(said, bound)


def _inspected(e: Verified, partner: Partner, now: dt.datetime) -> dt.date | None:
    """The day of a result's inspection, for the ``event_date`` column (what mutual
    recognition counts from), or None. A result dated after the day it was logged (its
    ``at``, in China's time, and never later than our clock allows a partner's to be) is of
    an inspection that had not happened: it counted in our draws' exclusion window from its
    date on (one dated 2099 kept an enterprise out of every draw of that check item until
    then). It is kept whole and counts for no draw; the operator's log says which."""
    day = _date(e.doc["body"].get("inspected_on"))
    logged = logged_at(e.doc.get("at"), now)
    if day is not None and day > local_time(logged).date():
        logger.warning("result of entry %d from %s counts for no draw: inspected_on %s is after "
                       "the day it was logged (%s): tell %s's operators", e.seq, partner.code,
                       day.isoformat(), iso(logged), partner.code)  # fmt: skip
        return None
    return day


_ENTRY = PartnerEntry.__table__  # type: ignore[attr-defined]
_COLUMNS = ("partner_code", "seq", "entry_id", "kind", "supersedes", "credit_code", "check_item",
            "event_date", "body", "leaf_hash", "applied_at")  # fmt: skip
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # positional, per driver


class _Rows:
    """``partner_entry`` rows as tuples (``_COLUMNS`` order), values already in the driver's
    form, written by one DBAPI ``executemany`` per chunk: no ORM object and no per-row
    parameter processing. The two date columns go through their SQLAlchemy type's own
    bind processor, so SQLite stores exactly what an ORM insert would."""

    def __init__(self, session: Session, partner: Partner, now: dt.datetime):
        self.conn = session.connection()
        dialect = self.conn.dialect
        mark = _PLACEHOLDER[dialect.paramstyle]
        self.sql = (f"INSERT INTO {_ENTRY.name} ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join([mark] * len(_COLUMNS))})")  # fmt: skip
        self.date = _ENTRY.c.event_date.type.bind_processor(dialect) or (lambda v: v)
        at = _ENTRY.c.applied_at.type.bind_processor(dialect)
        self.applied_at = at(now) if at else now
        self.now = now
        self.partner = partner
        self.rows: list[tuple] = []

    def add(self, e: Verified) -> None:
        doc, body, partner = e.doc, e.doc["body"], self.partner
        if not known(doc["kind"]):  # kept as the leaf it is; nothing in it is read
            self.rows.append((
                partner.code, e.seq, doc["id"], UNREAD + doc["kind"], None, None, None, None,
                e.data.decode(), e.leaf_hash.hex(), self.applied_at,
            ))  # fmt: skip
            return
        credit = credit_code(body.get("credit_code")) if doc["kind"] != "round" else None
        item = _item(body.get("check_item"))
        day = _inspected(e, partner, self.now)
        self.rows.append((
            partner.code, e.seq, doc["id"], doc["kind"], doc.get("supersedes"), credit,
            None if item is None else partner.our_check_item(item),
            None if day is None else self.date(day), e.data.decode(), e.leaf_hash.hex(),
            self.applied_at,
        ))  # fmt: skip

    def write(self, chunk: int = 5000) -> int:
        for k in range(0, len(self.rows), chunk):
            self.conn.exec_driver_sql(self.sql, self.rows[k : k + chunk])
        return len(self.rows)


def _case_event(session: Session, partner: Partner, e: Verified, us: str, now: dt.datetime) -> None:
    kind, body = e.doc["kind"], e.doc["body"]
    if kind == "assistance-request" and body.get("to") == us:
        key = (partner.code, str(body.get("request_id")))
        item, reason = str(body.get("check_item")), str(body.get("reason", ""))
        if (why := no_case(body)) is not None:  # listed by partners status and 执法协查
            logger.warning("assistance request of entry %d from %s opens no case: %s; no "
                           "answer can name it: tell %s's operators", e.seq, partner.code,
                           why.said(), partner.code)  # fmt: skip
            return
        code = credit_code(body.get("credit_code"))
        assert code is not None  # no_case refused any other
        if session.get(AssistanceCase, key) is None:
            opened = AssistanceCase(
                requester=partner.code, request_id=key[1], direction="incoming", target=us,
                credit_code=code, check_item=item, reason=reason, status="pending",
                request_entry_hash=e.leaf_hash.hex(), updated_at=now,
            )  # fmt: skip
            session.add(opened)
            for hook in case_opened_hooks:
                hook(session, opened)
            logger.info("assistance request %s from %s received", key[1], partner.code)
        return
    if kind == "assistance-answer":
        req = body.get("request") or {}
        if req.get("origin") != origin_of(us):
            return
        case = session.get(AssistanceCase, (us, str(req.get("request_id"))))
        if not _asked(case, partner, e):
            return
        if case is not None and case.status == "pending":
            case.status = "accepted" if body.get("decision") == "accepted" else "declined"
            case.answer = dict(body) | {"entry": e.doc["id"], "seq": e.seq}
            case.updated_at = now
            session.add(case)
        return
    if kind in ("result", "correction"):
        assist = body.get("assistance") or {}
        if assist.get("requester") != us:
            return
        case = session.get(AssistanceCase, (us, str(assist.get("request_id"))))
        if case is not None and _asked(case, partner, e):
            case.status = "completed"
            case.result = dict(body) | {"entry": e.doc["id"], "seq": e.seq}
            case.updated_at = now
            session.add(case)


def _asked(case: AssistanceCase | None, partner: Partner, e: Verified) -> bool:
    """Whether ``partner`` is the bureau our request ``case`` went to, so its entry ``e`` may
    answer or complete it. Any partner's entry naming one of our requests did: one we had not
    asked declined it (its reason recorded as the answer), and the answer of the bureau asked
    was then ignored, the case no longer pending."""
    if case is None or case.target == partner.code:
        return True
    logger.warning("entry %d of %s names our assistance request %s, which went to %s: "
                   "not taken as its answer or result", e.seq, partner.code, case.request_id,
                   case.target)  # fmt: skip
    return False


def apply_entries(
    session: Session, partner: Partner, entries: Sequence[Verified], our_code: str,
    now: dt.datetime | None = None,
) -> int:  # fmt: skip
    """Insert what is new; an entry already held must be byte-identical. Returns how many.
    ``now``: the moment recorded as applied (a sync applying its range in parts gives one)."""
    if not entries:
        return 0
    now = now or dt.datetime.now(dt.UTC)
    held = dict(
        session.execute(
            select(col(PartnerEntry.seq), col(PartnerEntry.leaf_hash)).where(
                col(PartnerEntry.partner_code) == partner.code,
                col(PartnerEntry.seq) >= entries[0].seq,
                col(PartnerEntry.seq) <= entries[-1].seq,
            )
        ).all()
    )
    rows = _Rows(session, partner, now)
    for e in entries:
        _an_id(e, partner)
        if e.seq in held:
            if held[e.seq] != e.leaf_hash.hex():
                raise SyncRejected(f"partner {partner.code}: entry {e.seq} differs from ours")
            continue
        rows.add(e)
        if e.doc["kind"] != "round" and known(e.doc["kind"]):
            _case_event(session, partner, e, our_code, now)
    return rows.write()


def unread(entries: Sequence[Verified]) -> Counter[str]:
    """How many of ``entries`` are of each kind this shuangsui does not know (kept unread)."""
    return Counter(e.doc["kind"] for e in entries if not known(e.doc["kind"]))


def reread(session: Session, partner: Partner, our_code: str, now: dt.datetime) -> int:
    """Apply the partner's entries kept unread whose kind this shuangsui now knows (kept by
    an older shuangsui): each read again from its leaf bytes, as if it had just arrived.
    Returns how many; when none, a look-up of the ``kind`` index (run by every sync)."""
    marks = unread_marks()
    # by the kind index alone: asked for the partner too, SQLite walked the partner's half of
    # the primary key instead (35 ms at 200,000 entries, at every sync); other partners' rows
    # are few, and wait for their own sync
    found = session.execute(
        select(col(PartnerEntry.partner_code), col(PartnerEntry.seq), col(PartnerEntry.body),
               col(PartnerEntry.leaf_hash))
        .where(col(PartnerEntry.kind).in_(marks))
        .order_by(col(PartnerEntry.seq))
    ).all()  # fmt: skip
    rows = [(seq, body, lh) for code, seq, body, lh in found if code == partner.code]
    if not rows:
        return 0
    entries = []
    for seq, body, lh in rows:
        try:
            doc = parse_entry(body.encode(), origin=partner.origin, seq=seq)
        except ValueError as exc:
            raise SyncRejected(f"partner {partner.code}: kept {exc}") from None
        entries.append(Verified(seq, body.encode(), doc, bytes.fromhex(lh)))
    session.execute(delete(PartnerEntry).where(
        col(PartnerEntry.partner_code) == partner.code, col(PartnerEntry.kind).in_(marks)
    ))  # fmt: skip
    logger.info("partner %s: %d entries kept unread are read now", partner.code, len(entries))
    return apply_entries(session, partner, entries, our_code, now)


def kept_unread(session: Session) -> dict[str, dict[str, int]]:
    """partner code -> {kind: entries kept unread}, for every partner that has any."""
    kind = col(PartnerEntry.kind)
    # the predicate of the index of those rows, as it is written: PostgreSQL reads that index
    # alone (0.04 ms at 200,000 entries, where it read the table: 30 ms; its collation may
    # order "?" by the letters after it, so no range of the kind index holds them)
    q = (
        select(col(PartnerEntry.partner_code), kind, func.count())
        .where(UNREAD_ROWS)
        .group_by(col(PartnerEntry.partner_code), kind)
    )
    if session.get_bind().dialect.name == "sqlite":
        # SQLite compares by byte: the kinds "?..." are the range ["?", "@") of the kind index,
        # read in 0.3 ms where LIKE alone read the table (77 ms at 200,000 entries)
        q = q.where(kind >= UNREAD, kind < chr(ord(UNREAD) + 1))
    held: dict[str, dict[str, int]] = {}
    for code, kind, n in session.execute(q):
        held.setdefault(code, {})[kind.removeprefix(UNREAD)] = n
    return held


def said(counts: dict[str, int]) -> str:
    """What a count of entries kept unread says, in one phrase."""
    n = sum(counts.values())
    kinds = ", ".join(f"{kind} {k}" for kind, k in sorted(counts.items()))
    return (f"{n} entr{'y' if n == 1 else 'ies'} of a kind this shuangsui does not know "
            f"({kinds}) kept, not applied: a newer shuangsui reads them")  # fmt: skip
