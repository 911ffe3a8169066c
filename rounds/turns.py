"""The turns a change of a drawn round's teams or dates waits for before it locks the round.

A replacement (``rounds.replacements``) and a new date (``rounds.redates``) lock the round's
row, append their event to the audit log, and their hooks then write the team's waiting
messages again (``notifications.hooks``). Whatever else writes those messages in another
order must not hold one of them while it waits on what the change holds: a dispatcher's claim
following the messages it took (``notifications.follow``) writes a member's messages, then
appends to the audit log, and the two deadlocked on PostgreSQL (the one failed sent its
messages with a dead link, or was tried again). rounds knows nothing of notifications (they
build on it): what builds on it appends its turn here (``notifications.hooks.install`` appends
``follow.not_while_following``: changes take it shared, so they do not wait for each other,
only for a following), and :func:`take` waits for each, in the change's transaction,
before the round's row is locked (``replacements.drawn_round``). What else writes a team's
waiting messages, then appends to the audit log, takes them first too: a finding's version or
signature (``findings.service.hold_teams``), a findings import, a joint round's replacement
(``joint.replacements.lock_for_replacement``), a registry import correcting an inspector's
address (``notifications.readdress.after_inspectors_updated``).

A turn takes the transaction's connection and waits in it (PostgreSQL: a transaction's
advisory lock, let go at its end); it takes no row. SQLite writes one transaction at a time:
a turn there has nothing to wait for.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

Turn = Callable[[sa.Connection], None]
before_change: list[Turn] = []


def take(conn: sa.Connection) -> None:
    """Wait for every turn, in ``conn``'s transaction, in the order they were appended."""
    for turn in before_change:
        turn(conn)
