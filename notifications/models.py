"""The transactional outbox: one row per message, written in the transaction that caused it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from shuangsui.dbtypes import enum_type


class NotificationStatus(enum.StrEnum):
    pending = "pending"  # waiting for (another) attempt at next_attempt_at
    sent = "sent"  # the server accepted it
    failed = "failed"  # last attempt failed transiently; kept for history (pending is retried)
    dead = "dead"  # permanently refused or gave up: needs a human (``notifications retry``)


class NotificationKind(enum.StrEnum):
    assignment = "assignment"  # 检查任务通知
    reminder = "reminder"
    overdue = "overdue"  # escalation to the coordinator
    round_summary = "round_summary"
    enterprise_notice = "enterprise_notice"  # 检查告知书
    round_held = "round_held"  # a round's commit held by its preflight, to the coordinator
    channel_outage = "channel_outage"  # to the coordinator: a mail server or webhook host is down
    signoff_request = "signoff_request"  # 待您签字确认: a teammate submitted a version
    # a member replaced (docs/draw-algorithm.md §14): the kinds are stored as plain strings
    # (shuangsui.dbtypes.enum_type), so a new one needs no migration
    team_changed = "team_changed"  # 检查组变更通知: to the members who stay
    assignment_withdrawn = "assignment_withdrawn"  # 检查任务变更通知: to the member withdrawn
    due_changed = "due_changed"  # 检查期限变更通知: a team's check given a new date (延期)
    assistance_assigned = "assistance_assigned"  # 协查任务通知: a partner's request accepted
    # 检查链接重新发送: an open check's link given again (notifications.relink), after the
    # secret key was rotated or a member lost their notice
    link_reissued = "link_reissued"


class Channel(enum.StrEnum):
    email = "email"
    webhook = "webhook"
    dingtalk = "dingtalk"
    wecom = "wecom"
    file = "file"  # written to the outbox directory only (letters to print, the demo)
    none = "none"  # no usable address: dead on arrival


# The dispatcher's queue: only the rows still due, in the order they are claimed (oldest due
# first). Partial, so sent and dead rows cost nothing here and a claim reads its batch straight
# off the index instead of sorting every due row. The claim's WHERE repeats this text exactly
# (SQLite uses a partial index only for a literal match).
DUE_PREDICATE = "status IN ('pending', 'failed')"


class Notification(SQLModel, table=True):
    __table_args__ = (
        Index(
            "ix_notification_due_queue",
            "next_attempt_at",
            "id",
            sqlite_where=text(DUE_PREDICATE),
            postgresql_where=text(DUE_PREDICATE),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    round_key: str = Field(index=True)
    kind: NotificationKind = Field(sa_type=enum_type(NotificationKind))
    recipient: str  # an inspector_id, "coordinator" or "enterprise:<credit code>"
    channel: Channel = Field(sa_type=enum_type(Channel))
    address: str = Field(sa_column=Column(Text, nullable=False))
    language: str = "zh"
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: NotificationStatus = Field(
        default=NotificationStatus.pending, sa_type=enum_type(NotificationStatus)
    )
    attempts: int = 0
    next_attempt_at: datetime
    lease_until: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime
    sent_at: datetime | None = None


class ChannelPause(SQLModel, table=True):
    """A channel found down (an SMTP server, or one webhook host): its messages wait until
    ``paused_until`` without spending attempts. The row goes when a message gets through."""

    __tablename__ = "channel_pause"

    channel: str = Field(primary_key=True, max_length=300)  # "smtp host:port", "webhook URL"
    down_since: datetime
    paused_until: datetime
    failures: int = 1  # failed connections in a row: the pause doubles with each
    last_error: str = Field(sa_column=Column(Text, nullable=False))


class LinkKey(SQLModel, table=True):
    """A secret key links are made under, recorded by its fingerprint (never the key): the
    newest row is the current key (``notifications.link_key``). A row is added when a key is
    first used with none recorded, and by the relink of a rotation."""

    __tablename__ = "link_key"

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64)
    recorded_at: datetime
    recorded_by: str = Field(sa_column=Column(Text, nullable=False))
