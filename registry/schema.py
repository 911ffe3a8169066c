"""What each registry file holds: its columns (English field names and Chinese headers), the
cell type of each column, the natural key and the table. One place, read by import and export."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any, Literal

import sqlalchemy as sa

from registry.models import (
    Certificate,
    CertificateKind,
    CertificateStatus,
    CheckCategory,
    CheckItem,
    Conflict,
    Enterprise,
    EnterpriseStatus,
    Inspector,
    InspectorStatus,
    RiskClass,
    WebhookKind,
)

CellType = Literal["text", "credit_code", "division", "date", "bool", "enum", "enum_list", "leave"]

# Chinese (and a few other) labels accepted for enumeration values; matching ignores case.
LABELS: dict[type[enum.Enum], dict[str, str]] = {
    RiskClass: {"a类": "A", "b类": "B", "c类": "C", "d类": "D"},
    EnterpriseStatus: {
        "存续": "active",
        "在业": "active",
        "开业": "active",
        "注销": "deregistered",
        "吊销": "revoked",
    },
    CertificateKind: {
        "ccc": "ccc",
        "3c": "ccc",
        "强制性产品认证": "ccc",
        "强制性认证": "ccc",
        "有机": "organic",
        "有机产品": "organic",
        "有机产品认证": "organic",
        "管理体系": "management_system",
        "管理体系认证": "management_system",
        "其他自愿性认证": "voluntary_other",
        "自愿性认证": "voluntary_other",
        "其他": "voluntary_other",
    },
    CertificateStatus: {"有效": "valid", "暂停": "suspended", "撤销": "withdrawn"},
    CheckCategory: {
        "一般": "general",
        "一般检查事项": "general",
        "重点": "key",
        "重点检查事项": "key",
    },
    InspectorStatus: {"在岗": "active", "有效": "active", "离岗": "inactive", "停用": "inactive"},
    WebhookKind: {"通用": "generic", "钉钉": "dingtalk", "企业微信": "wecom"},
}


@dataclass(frozen=True)
class Col:
    name: str
    cell: CellType = "text"
    aliases: tuple[str, ...] = ()
    required: bool = False
    enum: type[enum.Enum] | None = None
    default: Any = ""


@dataclass(frozen=True)
class Reference:
    """``fields`` of this kind must name an existing row of ``target`` (by its key)."""

    fields: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class Kind:
    name: str
    model: type
    key: tuple[str, ...]
    columns: tuple[Col, ...]
    references: tuple[Reference, ...] = field(default=())
    # whether a file of this kind may hold no rows where the registry holds some: a bureau may
    # have no new conflicts to declare; a file of another list without rows is one cut short
    may_be_empty: bool = False

    @property
    def table(self) -> sa.Table:
        return self.model.__table__  # type: ignore[attr-defined, no-any-return]

    @property
    def table_name(self) -> str:
        return self.table.name

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def columns_by_name(self) -> dict[str, Col]:
        return {c.name: c for c in self.columns}

    def defaults(self) -> dict[str, Any]:
        return {c.name: c.default for c in self.columns if not c.required}

    def key_of(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        return self._key_getter(row)  # type: ignore[no-any-return]

    @cached_property
    def _key_getter(self) -> Callable[[Mapping[str, Any]], Any]:
        """``key_of`` as one C-level call (it runs several times per imported row)."""
        return values_of(self.key)


def values_of(items: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A function that takes ``items`` (keys of a mapping, or indices of a sequence) out of
    what it is given, as a tuple, in one C call."""
    get = itemgetter(*items)
    return get if len(items) > 1 else lambda values: (get(values),)


def row_key(key: tuple[str, ...]) -> str:
    """The ``registry_change.row_key`` text of a natural key: ``a`` or ``a|b``."""
    return "|".join(key)


def _enum(name: str, cls: type[enum.Enum], aliases: tuple[str, ...], default: Any) -> Col:
    return Col(name, "enum", aliases, enum=cls, default=default, required=default is None)


ENTERPRISES = Kind(
    "enterprises",
    Enterprise,
    ("credit_code",),
    (
        Col("credit_code", "credit_code", ("统一社会信用代码", "信用代码"), required=True),
        Col("name", "text", ("企业名称", "名称"), required=True),
        Col("division_code", "division", ("行政区划代码", "区划代码", "行政区划"), required=True),
        Col("address", "text", ("住所", "地址", "经营场所")),
        Col("industry", "text", ("行业", "所属行业", "行业门类")),
        _enum("risk_class", RiskClass, ("风险等级", "风险分类", "风险类别"), "B"),
        Col("abnormal_listed", "bool", ("列入经营异常名录", "经营异常"), default=False),
        Col("serious_violation", "bool", ("严重违法失信", "列入严重违法失信名单"), default=False),
        _enum("status", EnterpriseStatus, ("登记状态", "企业状态"), "active"),
    ),
)

CERTIFICATES = Kind(
    "certificates",
    Certificate,
    ("body", "number"),
    (
        Col("body", "text", ("认证机构", "认证机构代码", "发证机构"), required=True),
        Col("number", "text", ("证书编号", "证书号"), required=True),
        Col("credit_code", "credit_code", ("统一社会信用代码", "信用代码"), required=True),
        _enum("kind", CertificateKind, ("认证类型", "证书类型", "认证类别"), None),
        Col("scope", "text", ("认证范围", "产品名称", "范围")),
        _enum("status", CertificateStatus, ("证书状态", "状态"), "valid"),
        Col("issued_on", "date", ("发证日期", "颁证日期"), required=True),
        Col("expires_on", "date", ("有效期至", "到期日期", "证书到期日期"), required=True),
    ),
    (Reference(("credit_code",), "enterprises"),),
)

INSPECTORS = Kind(
    "inspectors",
    Inspector,
    ("inspector_id",),
    (
        Col("inspector_id", "text", ("执法人员编号", "人员编号", "编号"), required=True),
        Col("name", "text", ("姓名",), required=True),
        Col("unit", "text", ("所属单位", "单位", "工作单位")),
        Col("division_code", "division", ("行政区划代码", "区划代码"), required=True),
        Col("credential_no", "text", ("执法证号", "执法证件号"), required=True),
        Col("credential_valid_from", "date", ("执法证有效期起", "发证日期"), required=True),
        Col("credential_valid_until", "date", ("执法证有效期止", "有效期至"), required=True),
        Col(
            "expertise",
            "enum_list",
            ("业务专长", "执法资质", "专长"),
            enum=CertificateKind,
            default=[],
        ),
        Col("leave", "leave", ("休假", "请假", "不可用期间"), default=[]),
        Col("email", "text", ("电子邮箱", "邮箱")),
        Col("webhook_url", "text", ("通知地址", "机器人地址")),
        _enum("webhook_kind", WebhookKind, ("通知方式", "机器人类型"), "generic"),
        Col("language", "text", ("语言",), default="zh"),
        _enum("status", InspectorStatus, ("人员状态", "状态"), "active"),
    ),
)

CONFLICTS = Kind(
    "conflicts",
    Conflict,
    ("inspector_id", "credit_code"),
    (
        Col("inspector_id", "text", ("执法人员编号", "人员编号"), required=True),
        Col("credit_code", "credit_code", ("统一社会信用代码", "信用代码"), required=True),
        Col("reason", "text", ("回避事由", "事由", "原因")),
        Col("declared_on", "date", ("申报日期", "登记日期"), required=True),
    ),
    (Reference(("inspector_id",), "inspectors"), Reference(("credit_code",), "enterprises")),
    may_be_empty=True,
)

CHECK_ITEMS = Kind(
    "check-items",
    CheckItem,
    ("code",),
    (
        Col("code", "text", ("事项编码", "编码", "检查事项编码"), required=True),
        Col("name", "text", ("事项名称", "检查事项", "抽查事项"), required=True),
        Col("legal_basis", "text", ("检查依据", "法律依据", "依据"), required=True),
        _enum("category", CheckCategory, ("事项类别", "类别", "检查类别"), "general"),
        Col(
            "cert_kinds",
            "enum_list",
            ("认证类型", "适用认证类型"),
            enum=CertificateKind,
            default=[],
        ),
    ),
)

KINDS: dict[str, Kind] = {
    k.name: k for k in (ENTERPRISES, CERTIFICATES, INSPECTORS, CONFLICTS, CHECK_ITEMS)
}
# Dependency order: a reference's target is imported before the rows that point at it.
IMPORT_ORDER = ("enterprises", "inspectors", "check-items", "certificates", "conflicts")


def header_map(kind: Kind) -> dict[str, str]:
    """Every accepted header (lower-cased) -> field name."""
    out: dict[str, str] = {}
    for col in kind.columns:
        out[col.name.lower()] = col.name
        for alias in col.aliases:
            out[alias.lower()] = col.name
    return out


def unknown_column(text: str, columns: Mapping[str, Sequence[str]]) -> str:
    """The problem of a header cell that names no column of ``columns`` (field name ->
    aliases): the accepted headers closest to it, by spelling or, for a Chinese header, by the
    characters it shares with them; or, when none is close, every accepted column."""
    names = [h for name, aliases in columns.items() for h in (name, *aliases)]
    close = difflib.get_close_matches(text.lower(), [h.lower() for h in names], n=3, cutoff=0.6)
    hints = [h for h in names if h.lower() in close]
    if not hints:
        wide = {c for c in text if not c.isascii()}
        shared = [(len(wide & set(h)), h) for h in names if wide & set(h)]
        hints = [h for _, h in sorted(shared, key=lambda pair: -pair[0])[:3]]
    if hints:
        return f"unknown column; did you mean {' or '.join(hints)}?"
    accepted = ", ".join(
        f"{name} ({aliases[0]})" if aliases else name for name, aliases in columns.items()
    )
    return f"unknown column; the columns are {accepted}"


def kind_columns(kind: Kind) -> dict[str, tuple[str, ...]]:
    """Each field name of ``kind`` -> the other headers that name it."""
    return {col.name: col.aliases for col in kind.columns}


def cell_of(col: Col, value: Any) -> str:
    """A canonical value as the cell text import reads back (the documented cell syntax)."""
    if col.cell == "bool":
        return "true" if value else "false"
    if col.cell == "enum_list":
        return ";".join(value)
    if col.cell == "leave":
        return ";".join(f"{a}..{b}" for a, b in value)
    return "" if value is None else str(value)


def cells_of(kind: Kind, row: Mapping[str, Any]) -> list[str]:
    return [cell_of(col, row[col.name]) for col in kind.columns]
