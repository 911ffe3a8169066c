"""Which entry kinds our partners read or keep, and the writer's rule that follows.

Each sync reads what the partner's feed says of itself (``GET /exchange/v1/about``, signed:
``exchange.about``) and keeps it in ``partner_state.about``: ``advertised`` (what it reads,
and whether it keeps the other kinds unread), ``absent`` (it answered 404: a shuangsui older
than the statement, which reads the kinds of ``BASELINE`` and fails its sync on any other) or
``unreadable`` (why). One log serves every partner, so an entry of a kind outside
``BASELINE`` is appended only when every partner that pulls our log said, signed, that it
reads or keeps that kind (:func:`may_write`; ``exchange.log.append_many`` asks
:func:`refuse_breaking`). docs/exchange-protocol.md, "Versions and unknown entry kinds".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from exchange import about
from exchange.directory import Directory, Partner, read_directory
from exchange.entries import iso
from exchange.errors import KindNotWritable, SyncRejected
from exchange.models import PartnerState
from exchange.settings import exchange_settings, span_words
from shuangsui.clock import local_label
from shuangsui.config import get_settings
from shuangsui.text import CONTROL_IN_TEXT, one_line

if TYPE_CHECKING:
    from exchange.client import PartnerClient

logger = logging.getLogger(__name__)

# The kinds of version 1 as its first release wrote and read them: every shuangsui reads
# these, so they are written to any partner. Fixed for good (not ``entries.KINDS``, which grows).
BASELINE = frozenset({"round", "result", "correction", "retraction", "assistance-request",
                      "assistance-answer"})  # fmt: skip


def learn(engine: Engine, client: PartnerClient, now: dt.datetime | None = None) -> dict[str, Any]:
    """Read what the partner says of itself and keep it (``partner_state.about``). A
    partner's fault here is kept as the reason, never raised: the sync of its log goes on,
    and no kind outside ``BASELINE`` is written to it meanwhile."""
    partner, now = client.partner, now or dt.datetime.now(dt.UTC)
    try:
        doc = client.about()
        said = {"state": "absent", "read_at": iso(now)} if doc is None else taken(doc, partner, now)
    except SyncRejected as exc:
        said = {"state": "unreadable", "reason": _line(str(exc)), "read_at": iso(now)}
    if said["state"] == "unreadable":
        logger.warning("partner %s: what it reads is not known: %s", partner.code,
                       said["reason"])  # fmt: skip
    keep(engine, partner.code, said)
    return said


def taken(doc: Any, partner: Partner, now: dt.datetime) -> dict[str, Any]:
    """What is kept of the statement ``doc`` the partner served: the kinds it reads, whether
    it keeps the others, and the signed document; or why it was not taken."""
    signed_within = exchange_settings().exchange_signature_max_age
    try:
        st = about.check(doc, partner.keys, partner.origin, now, signed_within)
    except about.AboutRefused as exc:
        reason = _line(f"partner {partner.code}: GET /exchange/v1/about: {exc}")
        return {"state": "unreadable", "reason": reason, "read_at": iso(now)}
    return {"state": "advertised", "reads": list(st.reads), "read_at": iso(now),
            "keeps_unknown_kinds": st.keeps_unknown_kinds, "signed_at": st.at,
            "document": st.document}  # fmt: skip


def keep(engine: Engine, code: str, said: dict[str, Any]) -> None:
    """Keep what partner ``code`` said (its ``partner_state`` row made if need be)."""
    with Session(engine) as session:
        state = session.get(PartnerState, code) or PartnerState(partner_code=code)
        state.about = said
        session.add(state)
        session.commit()


def _line(text: str) -> str:
    """A partner's words on one line, each control or invisible character replaced."""
    return one_line(CONTROL_IN_TEXT.sub("\ufffd", text))[:600]


def max_age() -> dt.timedelta:
    """How long a kept statement counts for the writer's rule (:func:`may_write`),
    ``SHUANGSUI_EXCHANGE_STATEMENT_MAX_AGE`` (48 hours unless set): a statement is what the
    partner's shuangsui was when it was taken, and a sync that fails before asking keeps the
    last; past this, no kind outside ``BASELINE`` is written to the partner until a sync takes
    a statement again (docs/exchange-protocol.md, "How long a statement counts")."""
    return exchange_settings().exchange_statement_max_age


def stale(said: dict[str, Any] | None, now: dt.datetime, bound: dt.timedelta | None = None) -> bool:
    """Whether a kept statement the partner did make was taken longer ago than ``bound``
    (default :func:`max_age`); one that said nothing, or could not be taken, counts for
    nothing however old."""
    if not said or said["state"] != "advertised":
        return False
    return now - dt.datetime.fromisoformat(said["read_at"]) > (bound or max_age())


def described(said: dict[str, Any] | None, zone: str | None = None,
              now: dt.datetime | None = None) -> str:  # fmt: skip
    """What a partner said of the kinds it reads, in one phrase (status, errors): when it was
    taken, in the bureau's time (``zone``, default the bureau's); with ``now``, whether it
    is too old to count."""
    if not said:
        return "has not said which entry kinds it reads (not synced since we ask)"
    when = _local(said["read_at"], zone)
    if said["state"] == "absent":
        return (f"said nothing of the kinds it reads (HTTP 404 at {when}: a shuangsui older "
                "than GET /exchange/v1/about): it reads only " + ", ".join(sorted(BASELINE))
                + " and fails its sync on an entry of any other kind")  # fmt: skip
    if said["state"] == "unreadable":
        return f"which entry kinds it reads is not known (at {when}): {said['reason']}"
    others = ("keeps entries of other kinds unread" if said["keeps_unknown_kinds"]
              else "keeps no entry of another kind: one fails its sync")  # fmt: skip
    old, bound = "", max_age()
    if now and stale(said, now, bound):
        old = (f"; more than {span_words(bound)} ago, so it no longer counts: no kind outside "
               "the first six is written to it until a sync takes it again")  # fmt: skip
    return f"reads {', '.join(said['reads'])}; {others} (taken at {when}{old})"


def described_zh(said: dict[str, Any] | None, zone: str, now: dt.datetime) -> str:
    """:func:`described` for the coordinator's partners page, its times in ``zone``."""
    if not said:
        return "尚未得知其读取哪些条目类型（下次同步时询问）"
    read_at = _local(said["read_at"], zone)
    if said["state"] == "absent":
        return (f"未声明读取哪些条目类型（{read_at} 答 HTTP 404：旧版 shuangsui）：只读取 "
                + "、".join(sorted(BASELINE)) + "，遇到其他类型的条目同步即失败")  # fmt: skip
    if said["state"] == "unreadable":
        return f"读取哪些条目类型未知（{read_at}）：{said['reason']}"
    others = ("其他类型的条目保存、不采用" if said["keeps_unknown_kinds"]
              else "不保存其他类型的条目：遇到即同步失败")  # fmt: skip
    old, bound = "", max_age()
    if stale(said, now, bound):
        old = (f"；已超过 {span_words(bound, zh=True)}，不再作数：同步取得新的声明之前，"
               "不向其写入前六种以外类型的条目")  # fmt: skip
    return f"读取 {'、'.join(said['reads'])}；{others}（声明取得于 {read_at}{old}）"


def _local(at: str, zone: str | None) -> str:
    """A kept ``YYYY-MM-DDTHH:MM:SSZ`` (ours, checked so) as the pages say a time:
    '2026-12-06 18:00 北京时间'."""
    return local_label(dt.datetime.fromisoformat(at), zone or get_settings().timezone)


def news(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str | None:
    """What a sync that asked the partner (``after``: what :func:`learn` kept; None if the
    sync failed before asking) tells the operator of it, kept before as ``before``: the
    reason when the statement could not be taken, what it says now when that changed (an
    older shuangsui upgraded, a partner that no longer keeps other kinds); None otherwise,
    and at the first statement kept (``partners status`` says it)."""
    if after is None:
        return None
    if after["state"] == "unreadable":
        return f"entry kinds: {described(after)}"
    if before is None or _said_of(before) == _said_of(after):
        return None
    return f"entry kinds: {described(after)}; before: {_BEFORE[before['state']]}"


def _said_of(said: dict[str, Any]) -> tuple[Any, ...]:
    """What of a kept statement counts as what the partner says: not when it was asked."""
    if said["state"] != "advertised":
        return (said["state"],)
    return (said["state"], tuple(said["reads"]), said["keeps_unknown_kinds"])


_BEFORE = {
    "advertised": "it said otherwise",
    "absent": "it said nothing (HTTP 404: an older shuangsui)",
    "unreadable": "not known",
}


def summary(said: dict[str, Any] | None, now: dt.datetime) -> dict[str, Any]:
    """What was kept of a partner's statement, but the signed document, and its phrase."""
    kept = {k: v for k, v in (said or {}).items() if k != "document"}
    return kept | {"said": described(said, now=now)}


def takes(said: dict[str, Any] | None, kind: str, now: dt.datetime,
          bound: dt.timedelta | None = None) -> bool:  # fmt: skip
    """Whether a partner that said ``said``, in a statement that still counts at ``now``
    (taken within ``bound``, default :func:`max_age`), reads or keeps an entry of ``kind``."""
    if kind in BASELINE:
        return True
    if not said or said["state"] != "advertised" or stale(said, now, bound):
        return False
    return kind in said["reads"] or bool(said["keeps_unknown_kinds"])


@dataclass(frozen=True)
class Breaks:
    """A partner that pulls our log and would fail its sync on an entry of the kind."""

    code: str
    name: str
    said: str

    def __str__(self) -> str:
        return f"{self.code} ({self.name}): {self.said}"


def pulling(directory: Directory) -> dict[str, str]:
    """Code -> name of every partner that pulls our log: each of the directory, one disabled
    too (it pulls again once its entry is mended), but one without a key (revoked)."""
    codes = {code: p.name for code, p in sorted(directory.partners.items())}
    for d in directory.disabled:
        if d.code and d.field != "keys":
            codes.setdefault(d.code, f"disabled in the directory: {d.field}")
    return codes


def may_write(session: Session, kind: str, directory: Directory | None = None,
              now: dt.datetime | None = None) -> list[Breaks]:  # fmt: skip
    """The partners that pull our log and are not known to read or keep ``kind`` (by a
    statement taken within :func:`max_age` of ``now``): an entry of it may be appended
    only when there are none."""
    if kind in BASELINE:
        return []
    now = now or dt.datetime.now(dt.UTC)
    codes = pulling(directory or read_directory())
    said = dict(session.execute(
        select(col(PartnerState.partner_code), col(PartnerState.about))
        .where(col(PartnerState.partner_code).in_(list(codes)))
    ).all())  # fmt: skip
    bound = max_age()
    return [Breaks(code, name, described(said.get(code), now=now)) for code, name in codes.items()
            if not takes(said.get(code), kind, now, bound)]  # fmt: skip


def refuse_breaking(session: Session, kinds: Iterable[str]) -> None:
    """KindNotWritable when an entry of one of ``kinds`` would stop a partner's sync of our
    log (:func:`may_write`); nothing is asked for the kinds of ``BASELINE``."""
    for kind in sorted(set(kinds) - BASELINE):
        breaks = may_write(session, kind)
        if breaks:
            raise KindNotWritable(
                f"an entry of kind {kind!r} is not appended to our log: partners that pull it "
                "are not known to read or keep that kind, and an entry of a kind a shuangsui "
                f"neither reads nor keeps stops its every sync of our log: "
                + "; ".join(map(str, breaks))
                + ". Each must run a shuangsui that says it reads or keeps the kind (GET "
                "/exchange/v1/about), and be synced by us since (`shuangsui partners sync`); "
                'docs/exchange-protocol.md, "Versions and unknown entry kinds"'
            )
