"""The two lists (名录库) and what hangs off them, as SQLModel tables.

Natural keys everywhere: an enterprise is its 统一社会信用代码, a certificate is
(certification body, number), an inspector is the bureau-issued inspector id. Draw frames are
built from natural keys only, never from surrogate ids, so the same registry gives the same frame
on any database.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from shuangsui.dbtypes import enum_type


class RiskClass(enum.StrEnum):
    A = "A"  # low risk
    B = "B"
    C = "C"
    D = "D"  # high risk


class EnterpriseStatus(enum.StrEnum):
    active = "active"  # 存续
    deregistered = "deregistered"  # 注销
    revoked = "revoked"  # 吊销


class CertificateKind(enum.StrEnum):
    ccc = "ccc"  # 强制性产品认证
    organic = "organic"  # 有机产品认证
    management_system = "management_system"  # 管理体系认证
    voluntary_other = "voluntary_other"  # 其他自愿性认证


class CertificateStatus(enum.StrEnum):
    valid = "valid"  # 有效
    suspended = "suspended"  # 暂停
    withdrawn = "withdrawn"  # 撤销


# What people read: the Chinese name of each kind and status, for pages and messages in
# Chinese. The database, the plans and the open data keep the values.
CERTIFICATE_KIND_LABELS: dict[CertificateKind, str] = {
    CertificateKind.ccc: "强制性产品认证",
    CertificateKind.organic: "有机产品认证",
    CertificateKind.management_system: "管理体系认证",
    CertificateKind.voluntary_other: "其他自愿性认证",
}
CERTIFICATE_STATUS_LABELS: dict[CertificateStatus, str] = {
    CertificateStatus.valid: "有效",
    CertificateStatus.suspended: "暂停",
    CertificateStatus.withdrawn: "撤销",
}


def certificate_kind_label(kind: str) -> str:
    """A kind's Chinese label; a value that is no kind is shown as it is."""
    return CERTIFICATE_KIND_LABELS.get(kind, kind)  # type: ignore[call-overload]


def certificate_status_label(status: str) -> str:
    """A status's Chinese label; a value that is no status is shown as it is."""
    return CERTIFICATE_STATUS_LABELS.get(status, status)  # type: ignore[call-overload]


class CheckCategory(enum.StrEnum):
    general = "general"  # 一般检查事项
    key = "key"  # 重点检查事项


class InspectorStatus(enum.StrEnum):
    active = "active"
    inactive = "inactive"


class WebhookKind(enum.StrEnum):
    generic = "generic"
    dingtalk = "dingtalk"
    wecom = "wecom"


# ---------------------------------------------------------------- enterprises
class EnterpriseBase(SQLModel):
    credit_code: str = Field(primary_key=True, max_length=18)
    name: str
    division_code: str = Field(max_length=6, index=True)
    address: str = ""
    industry: str = ""
    risk_class: RiskClass = Field(default=RiskClass.B, sa_type=enum_type(RiskClass))
    abnormal_listed: bool = False  # 列入经营异常名录
    serious_violation: bool = False  # 严重违法失信名单
    status: EnterpriseStatus = Field(
        default=EnterpriseStatus.active, sa_type=enum_type(EnterpriseStatus)
    )


class Enterprise(EnterpriseBase, table=True):
    updated_at: datetime


class EnterprisePublic(EnterpriseBase):
    pass


# ---------------------------------------------------------------- certificates
class CertificateBase(SQLModel):
    body: str = Field(primary_key=True, description="certification body code, e.g. CQC")
    number: str = Field(primary_key=True)
    credit_code: str = Field(foreign_key="enterprise.credit_code", index=True, max_length=18)
    kind: CertificateKind = Field(sa_type=enum_type(CertificateKind))
    scope: str = ""
    status: CertificateStatus = Field(
        default=CertificateStatus.valid, sa_type=enum_type(CertificateStatus)
    )
    issued_on: date
    expires_on: date


class Certificate(CertificateBase, table=True):
    updated_at: datetime


# ---------------------------------------------------------------- inspectors
class InspectorBase(SQLModel):
    inspector_id: str = Field(primary_key=True)
    name: str
    unit: str = ""
    division_code: str = Field(max_length=6, index=True)
    credential_no: str
    credential_valid_from: date
    credential_valid_until: date
    # certificate kinds this inspector may check (values of CertificateKind), sorted
    expertise: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # leave periods as [start, end] ISO dates, inclusive, sorted
    leave: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    email: str = ""
    webhook_url: str = ""
    webhook_kind: WebhookKind = Field(default=WebhookKind.generic, sa_type=enum_type(WebhookKind))
    language: str = "zh"
    status: InspectorStatus = Field(
        default=InspectorStatus.active, sa_type=enum_type(InspectorStatus)
    )


class Inspector(InspectorBase, table=True):
    updated_at: datetime


# ---------------------------------------------------------------- conflicts (回避)
class ConflictBase(SQLModel):
    inspector_id: str = Field(primary_key=True, foreign_key="inspector.inspector_id")
    credit_code: str = Field(primary_key=True, foreign_key="enterprise.credit_code", max_length=18)
    reason: str = ""
    declared_on: date


class Conflict(ConflictBase, table=True):
    updated_at: datetime


# ---------------------------------------------------------------- check items (抽查事项清单)
class CheckItemBase(SQLModel):
    code: str = Field(primary_key=True)
    name: str
    legal_basis: str
    category: CheckCategory = Field(default=CheckCategory.general, sa_type=enum_type(CheckCategory))
    cert_kinds: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class CheckItem(CheckItemBase, table=True):
    updated_at: datetime


# ---------------------------------------------------------------- history
class RegistryChange(SQLModel, table=True):
    """Append-only: one row per inserted, updated or deleted registry row.

    ``after`` is the whole row as it stood after the change (None for a delete), so the registry
    at any instant T is, per key, the ``after`` of its last change with ``seq`` at or before T.
    """

    __tablename__ = "registry_change"
    __table_args__ = (Index("ix_registry_change_key", "table_name", "row_key", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    table_name: str
    row_key: str
    op: str  # insert | update | delete
    before: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    source: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    batch_id: str = Field(index=True)


class RegistryImport(SQLModel, table=True):
    """One accepted import set, changed rows or not: how fresh the registry is (a round's
    preflight holds the commit when the last one is too old)."""

    __tablename__ = "registry_import"

    batch_id: str = Field(primary_key=True)
    at: datetime = Field(index=True)
    files: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
