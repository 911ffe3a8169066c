"""Circuit breaking per channel: a mail server or webhook host that cannot be reached is paused.

A failed connection (refused, timed out, TLS or login failed) says nothing about the message,
so it spends none of the message's attempts. Instead the channel ("smtp host:port", or
"webhook scheme://host:port") is paused in ``channel_pause`` with its own backoff, doubling
from ``outage_backoff_base_seconds`` up to ``outage_backoff_max_seconds``; the messages for it
are given back to the queue until then, unsent and with their attempts untouched. The first
failure of an outage queues one message to the coordinator (in the same transaction as the
pause) and logs a warning. When a message gets through again the pause is lifted.

An outage older than ``outage_give_up_seconds`` (a host that will never answer: a mistyped
webhook) no longer protects attempts: its messages fail and die as before, for a human to see.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from notifications.links import idempotency_key
from notifications.messages import Outgoing, route
from notifications.models import Channel, ChannelPause, NotificationKind
from notifications.render import render

if TYPE_CHECKING:
    from notifications.settings import NotifySettings
    from shuangsui.config import Settings

logger = logging.getLogger(__name__)

P = ChannelPause.__table__  # type: ignore[attr-defined]
SMTP = "smtp "  # the mail server's channels: "smtp host:port" (``delivery``)


class Breaker:
    """The paused channels, shared by the workers of one dispatcher process (and written
    through to the database, so other processes and later runs see them)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], notify: NotifySettings,
                 settings: Settings) -> None:  # fmt: skip
        self.engine, self.clock, self.notify, self.settings = engine, clock, notify, settings
        self._lock = threading.Lock()
        with engine.connect() as conn:
            rows = conn.execute(select(P.c.channel, P.c.paused_until))
            self._paused: dict[str, datetime] = {r.channel: r.paused_until for r in rows}

    def paused_until(self, key: str) -> datetime | None:
        """When ``key`` may be tried again, if that is still ahead."""
        until = self._paused.get(key)
        return until if until is not None and until > self.clock() else None

    def trip(self, key: str, error: str) -> datetime | None:
        """``key`` could not be reached: pause it (or find it paused by another worker) and
        return until when; ``None`` once the outage is older than ``outage_give_up_seconds``."""
        with self._lock:
            until = self.paused_until(key)
            if until is None:
                until = self._record(key, error, self.clock())
            if until is not None:
                self._paused[key] = until
            return until

    def cleared(self, key: str) -> None:
        """A message got through on ``key``: lift its pause (a no-op unless it had one). Mail
        through one server lifts the pauses of the others too: a bureau sends its mail through
        one (SHUANGSUI_SMTP_HOST), and an older server's pause, from before it moved, was never
        lifted (nothing goes that way), so ``notifications status`` said mail was down."""
        mail = key.startswith(SMTP)
        moved = [k for k in self._paused if mail and k != key and k.startswith(SMTP)]
        if key not in self._paused and not moved:
            return
        with self._lock:
            gone = [k for k in (key, *moved) if self._paused.pop(k, None) is not None]
            if not gone:
                return
            with self.engine.begin() as conn:
                rows = conn.execute(
                    delete(P).where(P.c.channel.in_(gone)).returning(P.c.channel, P.c.down_since)
                ).all()
            for channel, since in sorted(rows):
                if channel == key:
                    logger.warning("channel %s is back (down since %s)", key, since)
                else:
                    logger.warning("channel %s no longer paused (down since %s): mail went "
                                   "through %s, the mail server now", channel, since,
                                   key)  # fmt: skip

    def _record(self, key: str, error: str, now: datetime) -> datetime | None:
        n = self.notify
        with self.engine.begin() as conn:
            # a write first: on SQLite it takes the write lock before anything is read
            conn.execute(update(P).where(P.c.channel == key).values(last_error=error[:2000]))
            row = conn.execute(select(P).where(P.c.channel == key)).first()
            if row is not None and row.paused_until > now:
                return row.paused_until  # another process paused it meanwhile
            if row is not None:
                if (now - row.down_since).total_seconds() > n.outage_give_up_seconds:
                    return None
                delay = min(n.outage_backoff_base_seconds * 2**row.failures,
                            n.outage_backoff_max_seconds)  # fmt: skip
                until = now + timedelta(seconds=delay)
                conn.execute(
                    update(P)
                    .where(P.c.channel == key)
                    .values(paused_until=until, failures=P.c.failures + 1)
                )
                logger.warning(
                    "channel %s still down (%d failed connections since %s): paused until %s",
                    key, row.failures + 1, row.down_since, until,
                )  # fmt: skip
                return until
            until = now + timedelta(seconds=min(n.outage_backoff_base_seconds,
                                                n.outage_backoff_max_seconds))  # fmt: skip
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            added = conn.execute(
                dialect.insert(P)
                .values(channel=key, down_since=now, paused_until=until, failures=1,
                        last_error=error[:2000])
                .on_conflict_do_nothing(index_elements=["channel"])
            )  # fmt: skip
            if added.rowcount == 0:  # another process paused it at this very moment
                return conn.execute(select(P.c.paused_until).where(P.c.channel == key)).scalar()
            with Session(bind=conn) as session:
                from notifications.outbox import add_messages

                add_messages(session, [self._tell_coordinator(key, error, now, until)], now)
                session.flush()
        logger.warning(
            "channel %s is down (%s): its messages wait until %s without spending attempts; "
            "the coordinator is told once",
            key, error, until,
        )  # fmt: skip
        return until

    def _tell_coordinator(self, key: str, error: str, since: datetime,
                          until: datetime) -> Outgoing:  # fmt: skip
        from notifications import facts

        who = facts.coordinator(self.notify)
        channel, address = route(who)
        if channel == Channel.none:
            channel, address = Channel.file, "coordinator"
        kind = NotificationKind.channel_outage
        context = {
            "bureau_name": self.settings.bureau_name, "coordinator_name": who.name,
            "channel": key, "error": error[:500], "down_since": f"{since:%Y-%m-%d %H:%M}",
            "paused_until": f"{until:%Y-%m-%d %H:%M}",
        }  # fmt: skip
        rendered = render("channel_outage", who.language, context,
                          override_dir=self.notify.template_dir)  # fmt: skip
        return Outgoing(
            idempotency_key=idempotency_key("", kind.value, "coordinator",
                                            f"{key} {since.isoformat()}"),  # fmt: skip
            round_key="", kind=kind, recipient="coordinator", channel=channel, address=address,
            language=who.language, subject=rendered.subject, body=rendered.body,
            payload={"kind": kind.value, "channel": key, "down_since": since.isoformat()},
        )  # fmt: skip


def paused_channels(engine: Engine) -> list[ChannelPause]:
    """Every paused channel, for ``notifications status``."""
    with Session(engine) as session:
        rows = session.execute(select(ChannelPause).order_by(ChannelPause.channel))  # type: ignore[arg-type]
        return list(rows.scalars())
