"""Every drawn round's open checks given their links again (``shuangsui notifications relink
--all-open``): after ``SHUANGSUI_SECRET_KEY`` was rotated every link sent before is dead, and
a round a coordinator forgot to relink by hand left its inspectors locked out (403) with
nothing telling anyone.

Each round in status drawn is given its links by :func:`notifications.relink.relink`, in a
transaction of its own (``shuangsui.writes.write``): a round that fails rolls back alone,
the rounds before it stay done, and the rounds after it are still tried. Running the command
again is safe: a round done queues nothing more for the same reason and key (its messages'
keys), and a round that failed is tried anew. A drawn round with no open check (every
finding final) is named as skipped, with no audit entry; a round closed between the listing
and its turn likewise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from notifications import link_key
from notifications.follow import one_at_a_time
from notifications.relink import NoneOpen, Refusals, Refused, Relinked, checked_note, relink
from rounds.models import Round, RoundStatus
from shuangsui import writes
from shuangsui.config import get_settings
from shuangsui.errors import Conflict, UserError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundRelinked:
    """One round's turn: what its relink did (``done``), or why it was skipped, or what made
    it fail (nothing of it written)."""

    round_key: str
    done: Relinked | None = None
    skipped: str = ""
    failed: str = ""
    key_replaced: str = ""  # a first turn of no round: this run recorded its key, replacing it


def drawn_rounds(engine: sa.Engine) -> list[str]:
    """The keys of the rounds in status drawn (their links are out), in key order."""
    r = Round.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(r.round_key).where(r.status == RoundStatus.drawn.value).order_by(r.round_key)
        )
        return [key for (key,) in rows]


def relink_all_open(
    engine: sa.Engine, *, by: str, reason: str, refusals: Refusals | None = None
) -> Iterator[RoundRelinked]:
    """Relink each drawn round's open checks, a round at a time, each in its own
    transaction; each round's turn as it ends. ``by`` and ``reason`` are refused, naming the
    option, before any round is touched."""
    by, reason = checked_note(by, reason)
    with engine.begin() as conn:  # the rotation's step: this key is the current one from now
        one_at_a_time(conn)  # two runs at once: the second reads the first's record
        replaced = link_key.record(conn, link_key.fingerprint(get_settings().secret_key
                                                              .get_secret_value()),
                                   by=f"notifications relink --all-open, by {by}")  # fmt: skip
    if replaced:
        yield RoundRelinked("", key_replaced=replaced)
    for key in drawn_rounds(engine):
        try:
            done = writes.write(
                engine,
                partial(relink, round_key=key, by=by, reason=reason, refusals=refusals,
                        none_open=True),
                what=f"the links of round {key}",
                gave_up=_held,
            )  # fmt: skip
        except NoneOpen:
            yield RoundRelinked(key, skipped="no open check (every finding is final)")
        except Refused as exc:
            if exc.kind == "not-drawn":  # closed since the rounds were listed
                said = str(exc).removeprefix(f"--round: round {key} has ")
                yield RoundRelinked(key, skipped=said)
            else:
                yield RoundRelinked(key, failed=str(exc))
        # Any other failure is this round's alone: the links of every other round must still
        # go out (an inspector locked out is the incident this command ends), so it is named,
        # kept in the log with its traceback, and the next round is tried.
        except Exception as exc:
            logger.warning(
                "relink of round %s failed", key, exc_info=not isinstance(exc, UserError)
            )
            yield RoundRelinked(key, failed=_said(exc))
        else:
            yield RoundRelinked(key, done=done)


def _held(collision: str) -> Exception:
    """A round whose relink kept meeting another writer (a replacement, a new date, another
    relink holding its row, the database giving up waiting: ``lock_timeout``)."""
    return Conflict(f"another change of the round held it each time it was tried ({collision})")


def _said(exc: Exception) -> str:
    """What went wrong, in one line: a refusal's words, the database's first line, else the
    error's kind and words."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"database: {str(exc.orig).strip().splitlines()[0]}"
    return f"{type(exc).__name__}: {exc}"
