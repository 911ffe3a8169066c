"""Wire the exchange into the rounds: the round record joins our log when the round's drawn
list becomes public (``rounds.disclosure.reveal_hooks``: in the draw's own transaction for an
on-draw plan, in the transaction where ``publish`` records the reveal once the check window has
closed for an after-window one), published results join it when ``publish`` records them, and
``partner-checkpoints`` is registered as an entropy source (``rounds.entropy.entropy_sources``)
for rounds committed to it before: no new round can name it (``exchange.entropy``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col

if TYPE_CHECKING:
    from exchange.log import NewEntry
    from website.results import NewlyPublished

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


# The published versions are shared this many at a time: the log entries of one chunk are
# made, appended and let go before the next (about 1.5 KB each while held), all in the
# publishing transaction.
SHARE_CHUNK = 5_000


def share_published_results(session: Session, versions: list[NewlyPublished]) -> None:
    """Each newly published finding version joins our log: a ``result`` the first time a
    finding is published, a ``correction`` superseding it afterwards (``corrects``: the
    publish found another version of the finding recorded, in this transaction). Public
    fields only, as the publish read them (not read again). Appended in bulk, in the order
    given, ``SHARE_CHUNK`` versions at a time (one take of the log's lock each)."""
    from exchange.publish import share

    for start in range(0, len(versions), SHARE_CHUNK):
        share(session, _entries(versions[start : start + SHARE_CHUNK]))


def _entries(versions: list[NewlyPublished]) -> list[NewEntry]:
    from exchange.log import NewEntry
    from exchange.publish import correction_id, result_body_json, result_id

    entries = []
    for v in versions:  # each body written straight from the version's fields, no dict each
        body = result_body_json(v.credit_code, v.check_item, v.check_date, str(v.result),
                                v.round_key, v.description)  # fmt: skip
        first = result_id(v.round_key, v.credit_code, v.check_item)
        if v.corrects:  # an earlier version was shared: this one corrects it
            entries.append(NewEntry(correction_id(), "correction", body, first))
        else:
            entries.append(NewEntry(first, "result", body))
    return entries


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
