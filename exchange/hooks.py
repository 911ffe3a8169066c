"""Wire the exchange into the rounds: the round record joins our log when the round's drawn
list becomes public (``rounds.disclosure.reveal_hooks``: in the draw's own transaction for an
on-draw plan, in the transaction where ``publish`` records the reveal once the check window has
closed for an after-window one), published results join it when ``publish`` records them, and
``partner-checkpoints`` becomes a public entropy source (``rounds.entropy.entropy_sources``)."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, col

logger = logging.getLogger(__name__)
_installed = False


def round_record(session: Session, rnd: Any) -> dict[str, Any]:
    """What a partner may know of a drawn round: commitments, entropy, seed, selection and the
    exclusions with their citations. Never teams' contacts or internal notes."""
    from sqlalchemy import select

    from draw.frame import with_status
    from rounds.artifacts import load_inputs
    from rounds.models import Selection

    frame = load_inputs(session, rnd.round_key).enterprises  # the draw's own (cached) frame
    exclusions = {u.credit_code: u.note for u in with_status(frame, "excluded")}
    selection = session.execute(
        select(col(Selection.credit_code))
        .where(col(Selection.round_key) == rnd.round_key)
        .order_by(col(Selection.credit_code))
    ).scalars()
    return {
        "round_key": rnd.round_key,
        "plan_hash": rnd.plan_hash,
        "check_item": rnd.check_item_code,
        "period": rnd.period,
        "kind": str(rnd.kind),
        "window": {"start": rnd.window_start.isoformat(), "end": rnd.window_end.isoformat()},
        "frame_commitment": rnd.frame_commitment,
        "frame_merkle_root": rnd.frame_merkle_root,
        "frame_size": rnd.frame_size,
        "entropy": list(rnd.entropy or []),
        "seed": rnd.seed,
        "selection": list(selection),
        "exclusions": exclusions,
    }


def append_round_record(session: Session, rnd: Any) -> None:
    """A reveal hook: the drawn round's record joins our log (a failed round has none)."""
    from exchange.log import append
    from exchange.settings import origin_of
    from rounds.models import RoundStatus
    from shuangsui.config import get_settings

    if rnd.status not in (RoundStatus.drawn, RoundStatus.closed):
        return
    append(session, origin=origin_of(get_settings().bureau_code),
           entry_id=f"round/{rnd.round_key}", kind="round",
           body=round_record(session, rnd))  # fmt: skip


def share_published_results(session: Session, versions: list[tuple[int, int]]) -> None:
    """Each newly published finding version joins our log: a ``result`` the first time a
    finding is published, a ``correction`` superseding it afterwards. Public fields only.
    Read as rows (the columns shared, no ORM object per finding) and appended in bulk (one
    take of the log's lock), in the order given."""
    from sqlalchemy import select

    from exchange.log import one_of
    from exchange.publish import correction_entry, result_entry, share
    from findings.models import Finding, FindingVersion, PublishedResult
    from rounds.models import Round

    if not versions:
        return
    v = FindingVersion.__table__.c  # type: ignore[attr-defined]
    f = Finding.__table__.c  # type: ignore[attr-defined]
    p = PublishedResult.__table__.c  # type: ignore[attr-defined]
    by_version: dict[int, Any] = {}  # version id -> (check_date, result, description)
    by_finding: dict[int, Any] = {}  # finding id -> (round_key, credit_code)
    published: dict[int, set[int]] = {}  # finding id -> its published version ids
    for start in range(0, len(versions), 1000):
        chunk = versions[start : start + 1000]
        q1 = (
            select(v.id, v.check_date, v.result, v.description, f.id, f.round_key, f.credit_code)
            .join(Finding.__table__, f.id == v.finding_id)  # type: ignore[attr-defined]
            .where(one_of(session, v.id, [vid for vid, _ in chunk]))
        )
        for row in session.execute(q1):
            by_version[row[0]] = row[1:4]
            by_finding[row[4]] = row[5:]
        fids = list({fid for _, fid in chunk})
        q2 = select(p.finding_id, p.version_id).where(one_of(session, p.finding_id, fids))
        for fid, vid in session.execute(q2):
            published.setdefault(fid, set()).add(vid)
    keys = sorted({round_key for round_key, _ in by_finding.values()})
    r = Round.__table__.c  # type: ignore[attr-defined]
    items = dict(session.execute(select(r.round_key, r.check_item_code).where(
        r.round_key.in_(keys))).all())  # fmt: skip
    entries = []
    for version_id, finding_id in versions:
        version, finding = by_version.get(version_id), by_finding.get(finding_id)
        if version is None or finding is None:
            continue
        (check_date, result, description), (round_key, credit_code) = version, finding
        check_item = items.get(round_key, "")
        fields: dict[str, Any] = {
            "credit_code": credit_code,
            "check_item": check_item,
            "inspected_on": check_date,
            "outcome": str(result),
            "round_key": round_key,
            "summary": description,
        }
        if published.get(finding_id, set()) - {version_id}:  # an earlier version was shared
            first = f"result/{round_key}/{credit_code}/{check_item}"
            entries.append(correction_entry(supersedes=first, **fields))
        else:
            entries.append(result_entry(**fields))
    share(session, entries)


def install() -> None:
    """Idempotent: register the hook and the entropy source once per process."""
    global _installed
    if _installed:
        return
    _installed = True
    from exchange.entropy import PARTNER_CHECKPOINTS
    from rounds import disclosure, entropy

    if append_round_record not in disclosure.reveal_hooks:
        disclosure.reveal_hooks.append(append_round_record)
    from website import site

    if share_published_results not in site.after_record_hooks:
        site.after_record_hooks.append(share_published_results)
    entropy.entropy_sources["partner-checkpoints"] = PARTNER_CHECKPOINTS
