"""Wire notifications into the draw: messages are queued in the draw's own transaction.

``install()`` appends :func:`after_draw` to ``rounds.service.after_draw_hooks`` (once).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from notifications import facts
from notifications.outbox import EnqueueResult, enqueue_round_assignments

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


def install() -> None:
    global _installed
    if _installed:
        return
    from rounds import service

    if after_draw not in service.after_draw_hooks:
        service.after_draw_hooks.append(after_draw)
    _installed = True
