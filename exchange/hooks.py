"""Wire the exchange into the rounds: the round record joins our log in the draw's own
transaction (``rounds.service.after_draw_hooks``), and ``partner-checkpoints`` becomes a public
entropy source (``rounds.entropy.entropy_sources``)."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, col

logger = logging.getLogger(__name__)
_installed = False


def round_record(session: Session, rnd: Any, result: Any) -> dict[str, Any]:
    """What a partner may know of a drawn round: commitments, entropy, seed, selection and the
    exclusions with their citations. Never teams' contacts or internal notes."""
    from rounds.artifacts import load_inputs

    frame = load_inputs(session, rnd.round_key).enterprises  # the draw's own (cached) frame
    exclusions = {u.credit_code: u.note for u in frame if u.status == "excluded"}
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
        "seed": result.seed,
        "selection": sorted(s.credit_code for s in result.selected),
        "exclusions": exclusions,
    }


def append_round_record(session: Session, rnd: Any, result: Any) -> None:
    from exchange.log import append
    from exchange.settings import origin_of
    from shuangsui.config import get_settings

    append(session, origin=origin_of(get_settings().bureau_code),
           entry_id=f"round/{rnd.round_key}", kind="round",
           body=round_record(session, rnd, result))  # fmt: skip


def share_published_results(session: Session, versions: list[tuple[int, int]]) -> None:
    """Each newly published finding version joins our log: a ``result`` the first time a
    finding is published, a ``correction`` superseding it afterwards. Public fields only."""
    from sqlalchemy import select

    from exchange.publish import correct_result, publish_result
    from findings.models import Finding, FindingVersion, PublishedResult
    from rounds.models import Round

    for version_id, finding_id in versions:
        version = session.get(FindingVersion, version_id)
        finding = session.get(Finding, finding_id)
        if version is None or finding is None:
            continue
        rnd = session.get(Round, finding.round_key)
        check_item = rnd.check_item_code if rnd else ""
        fields: dict[str, Any] = {
            "credit_code": finding.credit_code,
            "check_item": check_item,
            "inspected_on": version.check_date,
            "outcome": str(version.result),
            "round_key": finding.round_key,
            "summary": version.description,
        }
        earlier = session.execute(
            select(col(PublishedResult.version_id)).where(
                col(PublishedResult.finding_id) == finding_id,
                col(PublishedResult.version_id) != version_id,
            )
        ).first()
        if earlier is None:
            publish_result(session, **fields)
        else:
            first = f"result/{finding.round_key}/{finding.credit_code}/{check_item}"
            correct_result(session, supersedes=first, **fields)


def install() -> None:
    """Idempotent: register the hook and the entropy source once per process."""
    global _installed
    if _installed:
        return
    _installed = True
    from exchange.entropy import PARTNER_CHECKPOINTS
    from rounds import entropy, service

    if append_round_record not in service.after_draw_hooks:
        service.after_draw_hooks.append(append_round_record)
    from website import site

    if share_published_results not in site.after_record_hooks:
        site.after_record_hooks.append(share_published_results)
    entropy.entropy_sources["partner-checkpoints"] = PARTNER_CHECKPOINTS
