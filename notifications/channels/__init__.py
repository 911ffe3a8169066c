"""The I/O of notifications: SMTP, webhooks over httpx, and the file outbox."""

from __future__ import annotations


class DeliveryError(Exception):
    """A message was not delivered. ``permanent``: retrying cannot help (dead letter)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
