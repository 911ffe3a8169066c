"""Entropy source ``partner-checkpoints``: partner bureaus' signed checkpoints issued after the
round's commitment. **No new round names it** (:func:`plan` refuses): a partner signs a new
checkpoint at least every ``exchange_checkpoint_interval`` seconds (300) and at each new entry,
and the bureau drawing chooses when to draw, so it can wait for the combination of checkpoints
that gives a seed it likes (one try per checkpoint; every check still passes). Rounds committed
naming it before still gather and draw (:func:`gather`), and their records are checked as
always.

Named at commitment as ``{"source": "partner-checkpoints", "partners": [codes], "after": T}``;
recorded as ``{"source": "partner-checkpoints", "after": T, "checkpoints": [{"partner",
"key_id", "vkey", "checkpoint"}]}`` (checked by ``draw.entropy.check_record``: each signature
verifies under its key, and each checkpoint's time is after T).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from exchange.directory import load_directory
from exchange.entries import iso
from exchange.errors import NoteError, SyncRejected
from exchange.notes import Checkpoint, parse_checkpoint
from exchange.witness import origin_note
from shuangsui.config import Settings
from shuangsui.errors import EntropyUnavailable, UserError

logger = logging.getLogger(__name__)


def plan(settings: Settings, committed_at: dt.datetime) -> dict[str, Any]:
    """Refused: see the module's docstring."""
    raise UserError(
        "SHUANGSUI_ENTROPY_SOURCES names 'partner-checkpoints', which no new round can commit "
        "to: each partner signs a new checkpoint every few minutes, so the bureau drawing "
        "could choose among them by choosing when to draw. Name witness-digits or beacon "
        "instead; rounds committed with partner checkpoints before still draw"
    )


def _stored(code: str) -> str:
    from exchange.models import PartnerState
    from shuangsui.db import get_engine

    with Session(get_engine()) as session:
        state = session.get(PartnerState, code)
        return state.checkpoint if state else ""


def _fresh(code: str, after: dt.datetime, transport: Any = None) -> Checkpoint:
    from exchange.client import PartnerClient, ahead_by
    from exchange.keys import load_or_create

    partner = load_directory()[code]
    stored = _stored(code)
    if stored:
        try:
            cp = parse_checkpoint(stored, list(partner.keys), partner.origin)
            ahead_by(cp, dt.datetime.now(dt.UTC))  # one kept before syncs refused it
            if cp.time > after:
                return cp
        except NoteError:
            pass
    with PartnerClient(partner, load_or_create(), transport=transport) as client:
        try:
            cp = client.checkpoint()
        except SyncRejected as exc:
            raise EntropyUnavailable(f"waiting for partner {code}'s checkpoint: {exc}") from None
    if cp.time <= after:
        raise EntropyUnavailable(
            f"waiting for partner {code} to sign a checkpoint after {iso(after)} "
            f"(its latest is of {iso(cp.time)})"
        )
    return cp


def gather(rnd: Any, spec: Mapping[str, Any], transport: Any = None) -> dict[str, Any]:
    after = dt.datetime.strptime(spec["after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    known = load_directory()
    out = []
    for code in spec["partners"]:
        if code not in known:
            raise UserError(f"round {rnd.round_key}: partner {code} left the partner directory")
        cp = _fresh(code, after, transport)
        vkey = next(k for k in known[code].keys if k.key_id == cp.key_id)
        # the partner's own signature only: cosignature lines are not part of the entropy
        out.append({"partner": code, "key_id": cp.key_id, "vkey": vkey.text,
                    "checkpoint": origin_note(cp, vkey)})  # fmt: skip
    logger.info("round %s: entropy from %d partner checkpoints", rnd.round_key, len(out))
    return {"source": "partner-checkpoints", "after": spec["after"], "checkpoints": out}


def _source() -> Any:
    from rounds.entropy import EntropySource

    return EntropySource(plan=plan, gather=gather)


PARTNER_CHECKPOINTS = _source()
