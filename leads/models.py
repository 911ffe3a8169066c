"""Leads (线索): a complaint, a risk signal or a partner's request that may become a targeted
check. One row per lead; its triage and its answer are columns, each step audited.

What is confidential stays in this table: the reporter's identity and the allegation's text are
never published; the public learns only counts by source and outcome (``leads.public``).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from shuangsui.dbtypes import enum_type


class LeadSource(enum.StrEnum):
    complaint = "complaint"  # 投诉举报
    risk_monitoring = "risk_monitoring"  # 风险监测
    partner_referral = "partner_referral"  # 兄弟单位移送
    assistance_request = "assistance_request"  # 协查请求 (from the partner exchange)
    other = "other"  # 其他


SOURCE_LABELS = {
    LeadSource.complaint: "投诉举报",
    LeadSource.risk_monitoring: "风险监测",
    LeadSource.partner_referral: "兄弟单位移送",
    LeadSource.assistance_request: "协查请求",
    LeadSource.other: "其他",
}


class LeadStatus(enum.StrEnum):
    received = "received"  # 待处理: not yet triaged
    accepted = "accepted"  # 已受理: waiting for a round of its check item
    targeted = "targeted"  # 已列入定向检查: a committed round's frame targets it
    answered = "answered"  # 已办结: the finding of that round and enterprise is final
    merged = "merged"  # 已合并: into another lead
    rejected = "rejected"  # 不予受理: with a reason

    @property
    def open(self) -> bool:
        return self in (LeadStatus.received, LeadStatus.accepted, LeadStatus.targeted)


STATUS_LABELS = {
    LeadStatus.received: "待处理",
    LeadStatus.accepted: "已受理",
    LeadStatus.targeted: "已列入定向检查",
    LeadStatus.answered: "已办结",
    LeadStatus.merged: "已合并",
    LeadStatus.rejected: "不予受理",
}


class LeadBase(SQLModel):
    source: LeadSource = Field(sa_type=enum_type(LeadSource), index=True)
    credit_code: str = Field(max_length=18, index=True)
    category: str = Field(max_length=64)  # allegation category, e.g. 认证标志使用不规范
    received_on: date
    deadline: date = Field(index=True)
    confidential: bool = True  # the reporter asked not to be named, even inside the bureau's lists
    reporter: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    allegation: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Lead(LeadBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # where it came from, unique when given: an import row or a partner's request id, so a
    # repeated intake is the same lead
    external_ref: str | None = Field(default=None, max_length=200, unique=True)
    status: LeadStatus = Field(
        default=LeadStatus.received, index=True, sa_type=enum_type(LeadStatus)
    )
    check_item_code: str | None = Field(default=None, max_length=64)
    urgent: bool = False
    merged_into: int | None = Field(default=None, foreign_key="lead.id")
    decision_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    decided_by: str = ""
    round_key: str | None = Field(default=None, index=True)  # the round whose frame targets it
    finding_id: int | None = None  # the finding that answered it
    created_by: str = ""
    created_at: datetime
    updated_at: datetime
    answered_at: datetime | None = None
