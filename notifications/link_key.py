"""Which secret key links are made under now, recorded by its fingerprint: a process holding
another key writes and sends no link.

A link is an HMAC under ``SHUANGSUI_SECRET_KEY`` (``notifications.links``), and a dispatcher
writes each message it claims again with the link of its own key (``notifications.follow``).
After a rotation, one left running with the old key wrote every waiting message it claimed
back to a dead link and sent it; a ``serve`` left running with it opened the dead links and
refused the new ones. The operator's steps say "restart every process", but a forgotten one
must not be able to do that damage.

So the key's fingerprint (an HMAC of a fixed text under the key: it names the key, never
gives it) is kept in table ``link_key``, the newest row the current key:

- ``shuangsui notifications relink`` records its own key when it is not the current one
  (:func:`record`): the rotation's last step, run where the new key is set, is what makes the
  new key current, and every process holding another from then on is stale;
- a dispatcher checks its key at each claim and at each renewal of its leases
  (:func:`check`): stale, it claims nothing, gives back what it holds unsent and stops with
  :class:`StaleKey`, one log line naming its fingerprint and the recorded one. It stops rather
  than pauses: its key is read once, at its start, and only a restart with the new
  environment can make it right; a scheduled ``dispatch`` started again with the old key
  stops again, saying so each time;
- a relink from the workspace (``serve``'s key) is refused likewise, nothing written;
- ``serve`` checks its key as it starts (another recorded: it does not start) and every
  ``SHUANGSUI_NOTIFY_KEY_CHECK_SECONDS`` while it runs (:func:`watch`): a rotation recorded
  meanwhile stops it, as a stop signal would. A server under the old key opened the links
  the rotation meant to end (a key that leaked, links forwarded) and refused the members'
  new ones, and signed sessions with it: nothing of it is right to keep answering;
- with no key recorded (a first start, no rotation ever recorded), the first process that
  checks records its own and goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import signal
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from notifications.models import LinkKey
from shuangsui.errors import UserError

logger = logging.getLogger(__name__)

LABEL = b"shuangsui-link-key-fingerprint-v1"
SHOWN = 16  # hex digits of a fingerprint said in logs and messages

K = LinkKey.__table__  # type: ignore[attr-defined]
_CURRENT = (
    sa.select(K.c.fingerprint, K.c.recorded_at, K.c.recorded_by).order_by(K.c.id.desc()).limit(1)
)


def fingerprint(secret: str) -> str:
    """HMAC-SHA256 of a fixed label under ``secret``, as hex: the same key, the same
    fingerprint; nothing of the key can be read from it."""
    return hmac.new(secret.encode("utf-8"), LABEL, hashlib.sha256).hexdigest()


class StaleKey(UserError):
    """This process holds another key than the one recorded: its links would not open."""

    def __init__(self, mine: str, recorded: str, at: datetime, by: str) -> None:
        super().__init__(
            f"SHUANGSUI_SECRET_KEY of this process (fingerprint {mine[:SHOWN]}) is not the "
            f"current key (fingerprint {recorded[:SHOWN]}, recorded {at:%Y-%m-%d %H:%M:%S} UTC "
            f"by {by}): links made under this one do not open, so this process writes and "
            "sends none. If the key was rotated, set the current key here and start it again; "
            "if this is the new key of a rotation under way, run `shuangsui notifications "
            "relink --all-open --by NAME --reason TEXT` with it first (that records it as the "
            'current key: docs/operations.md, "Keys and secrets")'
        )
        self.mine, self.recorded, self.at, self.by = mine, recorded, at, by

    def said(self) -> dict[str, str]:
        """What a helper process tells its parent, which raises it again (:meth:`heard`)."""
        return {"mine": self.mine, "recorded": self.recorded, "at": self.at.isoformat(),
                "by": self.by}  # fmt: skip

    @classmethod
    def heard(cls, said: dict[str, str]) -> StaleKey:
        return cls(said["mine"], said["recorded"], datetime.fromisoformat(said["at"]), said["by"])


def check(conn: Connection, mine: str, *, who: str) -> None:
    """In ``conn``'s transaction: :class:`StaleKey` when another key than ``mine`` (a
    fingerprint) is recorded; ``mine`` recorded, by ``who``, when none is (a first start)."""
    row = conn.execute(_CURRENT).first()
    if row is None:
        _add(conn, mine, who)
    elif row.fingerprint != mine:
        raise StaleKey(mine, row.fingerprint, row.recorded_at, row.recorded_by)


def record(conn: Connection, mine: str, *, by: str) -> str | None:
    """In ``conn``'s transaction: ``mine`` recorded as the current key (the relink of a
    rotation), by ``by``, when it is not. The fingerprint it replaces, if any; ``None`` when
    ``mine`` was current already or nothing was recorded. The caller says the rotation (the
    command's line: ``notifications.cli``); a WARNING here said it a second time, in other
    words, on the same terminal."""
    row = conn.execute(_CURRENT).first()
    if row is not None and row.fingerprint == mine:
        return None
    _add(conn, mine, by)
    return None if row is None else str(row.fingerprint)


def _add(conn: Connection, mine: str, by: str) -> None:
    conn.execute(sa.insert(K).values(fingerprint=mine, recorded_at=datetime.now(UTC),
                                     recorded_by=by))  # fmt: skip


SERVE = "serve, at its start"  # who records a key when none is


async def watch(
    engine: Engine, secret: str, every: float, *, checked: bool = False
) -> asyncio.Task[None]:
    """``serve``'s key checked now (:class:`StaleKey`: it does not start), unless ``checked``
    (the command checked it a moment ago: :func:`check_serve`), then every ``every`` seconds
    by the task returned (cancel it at the stop): stale, one log line, then the process is
    sent SIGTERM and stops as it would on a stop signal. A check that fails otherwise (the
    database unreachable) is logged and tried at the next turn."""
    mine = fingerprint(secret)
    if not checked:
        await asyncio.to_thread(_check_on, engine, mine)

    async def keep() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(_check_on, engine, mine)
            except StaleKey as exc:
                logger.error("%s; serve stops", exc)
                signal.raise_signal(signal.SIGTERM)
                return
            except Exception:
                logger.exception("checking serve's secret key against the recorded one failed")

    return asyncio.create_task(keep(), name="link-key-watch")


def check_serve(engine: Engine, secret: str) -> None:
    """``serve``'s key checked before it listens: :class:`StaleKey`, which the command says in
    one line (``error: …``), where the app's start (:func:`watch`) would say it in a traceback
    of the server's start-up. The app's start then checks it no more (``checked``): one read
    of the recorded key, and with none, one recording, for one start."""
    _check_on(engine, fingerprint(secret))


def _check_on(engine: Engine, mine: str) -> None:
    with engine.begin() as conn:
        check(conn, mine, who=SERVE)
