"""The I/O of notifications: SMTP, webhooks over httpx, and the file outbox."""

from __future__ import annotations


class DeliveryError(Exception):
    """A message was not delivered. ``permanent``: retrying cannot help (dead letter).
    ``outage``: the channel itself could not be reached (no connection, TLS or login failed),
    so the message is not at fault: it spends no attempt and the channel is paused."""

    def __init__(self, reason: str, *, permanent: bool, outage: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.outage = outage
