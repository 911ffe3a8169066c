"""Result categories, certificate actions and measures: the vocabulary of a finding.

Values are stable ASCII identifiers stored in the database and the open data; labels are the
Chinese text the national credit publicity system shows. Imports accept either.
"""

from __future__ import annotations

import enum


class ResultCategory(enum.StrEnum):
    no_problem = "no_problem"
    not_disclosed = "not_disclosed"
    unreachable = "unreachable"
    ordered_to_rectify = "ordered_to_rectify"
    rectified = "rectified"
    under_investigation = "under_investigation"
    nonconforming = "nonconforming"
    no_activity = "no_activity"
    other = "other"
    # certification-specific
    certificate_suspended = "certificate_suspended"
    certificate_withdrawn = "certificate_withdrawn"
    mark_misused = "mark_misused"
    product_differs = "product_differs"


RESULT_LABELS: dict[ResultCategory, str] = {
    ResultCategory.no_problem: "未发现问题",
    ResultCategory.not_disclosed: "未按规定公示应当公示的信息",
    ResultCategory.unreachable: "通过登记的住所(经营场所)无法联系",
    ResultCategory.ordered_to_rectify: "发现问题，依法责令立即改正或者限期改正",
    ResultCategory.rectified: "发现问题经责令已改正",
    ResultCategory.under_investigation: "发现问题，待后续调查处理",
    ResultCategory.nonconforming: "不合格",
    ResultCategory.no_activity: "未发现开展本次抽查涉及的经营活动",
    ResultCategory.other: "其它情况",
    ResultCategory.certificate_suspended: "暂停认证证书",
    ResultCategory.certificate_withdrawn: "撤销认证证书",
    ResultCategory.mark_misused: "认证标志使用不规范",
    ResultCategory.product_differs: "认证产品与型式试验样品不一致",
}


class CertificateAction(enum.StrEnum):
    kept = "kept"
    suspended = "suspended"
    withdrawn = "withdrawn"


ACTION_LABELS: dict[CertificateAction, str] = {
    CertificateAction.kept: "保持",
    CertificateAction.suspended: "暂停",
    CertificateAction.withdrawn: "撤销",
}


class MeasureKind(enum.StrEnum):
    rectify = "rectify"  # 责令改正: needs a deadline
    rectify_now = "rectify_now"  # 责令立即改正
    case_filed = "case_filed"  # 立案调查
    referred = "referred"  # 移送


MEASURE_LABELS: dict[MeasureKind, str] = {
    MeasureKind.rectify: "责令限期改正",
    MeasureKind.rectify_now: "责令立即改正",
    MeasureKind.case_filed: "立案调查",
    MeasureKind.referred: "移送有关部门",
}


def parse_label(text: str, enum_class: type[enum.StrEnum], labels: dict) -> enum.StrEnum:
    """An enum member from its value or its Chinese label; ValueError naming what is allowed."""
    key = text.strip()
    for member in enum_class:
        if key.lower() == member.value or key == labels.get(member):
            return member
    allowed = ", ".join(m.value for m in enum_class)
    raise ValueError(f"unknown value {text!r} (allowed: {allowed} or their Chinese labels)")
