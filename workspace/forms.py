"""The findings form: HTML form fields to a draft (plain dict) and a draft to :class:`FindingIn`.

A draft keeps exactly what the inspector typed, so a form refused for one field comes back with
everything else as it was; validation is :class:`findings.schemas.FindingIn`'s own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError

from findings.schemas import FindingIn
from shuangsui.text import CONTROL, REASON_MAX
from workspace.formvalues import first_twice

TEXT_FIELDS = (
    "result",
    "check_date",
    "description",
    "measure_kind",
    "measure_deadline",
    "measure_text",
    "internal_note",
    "reason",
)
CERT_PREFIX = "cert:"

FIELD_LABELS = {
    "result": "检查结果",
    "check_date": "检查日期",
    "description": "检查情况",
    "measures": "处理措施",
    "certificates": "证书处理",
    "evidence": "现场照片和附件",
    "internal_note": "内部备注",
    "reason": "更正理由",
    "finding": "检查结果",
}
# the form's own fields, as the page labels them (assignment.html): a refusal names a field so
REASON_FIRST = "说明"  # the reason's label before the first version: a check date's reason
FORM_LABELS = {
    **FIELD_LABELS,
    "measure_kind": "处理措施",
    "measure_deadline": "改正期限",
    "measure_text": "措施说明",
}


class Said(NamedTuple):
    """A refusal of one field of the form: the id of the field the page shows it beside
    (``assignment.html``) and what it says, the field named by its label."""

    field: str
    text: str


TWICE_SAID = "表单中填写了不止一次，未保存任何内容。请刷新页面后重新填写提交。"
# the hidden fields and the buttons, which have no label of their own
TWICE_HIDDEN = {"base_version": "表单中的版本号", "action": "“保存草稿”或“提交”按钮",
                "from_draft": "表单中的草稿标记", "team": "表单中的检查组"}  # fmt: skip


def sent_twice(form: Any, reason: str = FIELD_LABELS["reason"]) -> str:
    """The first field of the inspector's form sent more than once, said in Chinese by its
    label ("" when none was): the page's form sends each once, and which of two values was
    meant is not the server's to guess (the API refuses a key twice, ``api.bodies.OnceEachKey``).
    ``reason``: the reason's label on the page the form came from."""
    certs = [key for key, _ in form.multi_items() if key.startswith(CERT_PREFIX)]
    name = first_twice(form, (*TEXT_FIELDS, *TWICE_HIDDEN, *certs))
    if not name:
        return ""
    if name.startswith(CERT_PREFIX):
        label = certificate_label(name[len(CERT_PREFIX) :])
    else:
        label = ({**FORM_LABELS, "reason": reason} | TWICE_HIDDEN)[name]
    return f"{label}：{TWICE_SAID}"


def certificate_label(key: str) -> str:
    """A certificate's select as the page labels it (its body and number) under 证书处理;
    a key the page never sent shown without its control characters and cut short."""
    body, _, number = CONTROL.sub("", key).partition(":")
    return f"{FIELD_LABELS['certificates']}“{body[:64]} {number[:64]}”"


DIGEST = re.compile(r"[0-9a-f]{64}")


def to_remove(form: Any) -> set[str]:
    """The files of the draft the form asks to take out (a ticked 移除: ``remove`` with the
    file's SHA-256); anything that is not a digest names no file."""
    return {v for v in form.getlist("remove") if isinstance(v, str) and DIGEST.fullmatch(v)}


def draft_from_form(form: Any, evidence: list[dict[str, str]]) -> dict[str, Any]:
    """The form's fields as a draft (strings only), with the evidence attached so far."""
    draft: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = form.get(name, "")
        draft[name] = value.strip() if isinstance(value, str) else ""
    draft["certificates"] = {
        key[len(CERT_PREFIX) :]: value
        for key, value in form.multi_items()
        if key.startswith(CERT_PREFIX) and isinstance(value, str) and value
    }
    draft["evidence"] = evidence
    return draft


def finding_from_draft(
    draft: dict[str, Any], reason: str = FIELD_LABELS["reason"]
) -> tuple[FindingIn | None, list[Said]]:
    """The version a draft describes, or the reasons it is not: each in Chinese, naming the
    field as the page labels it (``reason``: the reason's label on the page, 说明 before the
    first version), with the field it is shown beside."""
    data = _finding_data(draft)
    try:
        return FindingIn.model_validate(data), []
    except ValidationError as exc:
        return None, _refusals(exc.errors(), data, reason)


def draft_refusals(draft: dict[str, Any], reason: str = FIELD_LABELS["reason"]) -> list[Said]:
    """What a draft may not hold: each field held to its own rule as a submit holds it (its
    length, its characters, a choice from its list, a date, the number of certificates), so
    a draft never keeps what its submit will refuse. What a draft may still lack is not
    asked of it: a field left empty (the result, the date, a measure's kind) and the rules
    between fields (a result's measure or certificate). A measure's text or deadline is held
    to its rule even with no kind chosen (a submit drops them then; a draft keeps them)."""
    data = _finding_data(draft)
    data = {k: v for k, v in data.items() if v is not None}  # not chosen yet: not refused
    measure = {k: draft.get(f"measure_{k}") or None for k in ("kind", "deadline", "text")}
    data["measures"] = [{k: v for k, v in measure.items() if v is not None}] if any(
        measure.values()) else []  # fmt: skip
    try:
        FindingIn.model_validate(data)
    except ValidationError as exc:
        own = [e for e in exc.errors() if e["type"] != "missing" and e["loc"]
               and not (e["loc"][0] == "measures" and len(e["loc"]) < 3)]  # fmt: skip
        return _refusals(own, data, reason)
    return []


def _refusals(errors: Sequence[Any], data: dict[str, Any], reason: str) -> list[Said]:
    out = []
    for err in errors:
        field, label = _field_of(err["loc"], data, reason)
        out.append(Said(field, f"{label}：{_said(err)}"))
    return out


def _finding_data(draft: dict[str, Any]) -> dict[str, Any]:
    """A draft as the fields of :class:`FindingIn` (a field not filled in: None)."""
    data: dict[str, Any] = {
        "result": draft.get("result") or None,
        "check_date": draft.get("check_date") or None,
        "description": draft.get("description", ""),
        "internal_note": draft.get("internal_note", ""),
        "reason": draft.get("reason", ""),
        "evidence": [
            {"sha256": e["sha256"], "filename": e.get("filename", "")}
            for e in draft.get("evidence", [])
        ],
        "certificates": [],
        "measures": [],
    }
    for key, action in sorted(draft.get("certificates", {}).items()):
        body, _, number = key.partition(":")
        data["certificates"].append({"body": body, "number": number, "action": action})
    if draft.get("measure_kind"):
        data["measures"].append(
            {
                "kind": draft["measure_kind"],
                "deadline": draft.get("measure_deadline") or None,
                "text": draft.get("measure_text", ""),
            }
        )
    return data


# a measure's parts (the form has one measure), by the part a refusal names
_MEASURE_PARTS = {"kind": "measure_kind", "deadline": "measure_deadline", "text": "measure_text"}


def _field_of(loc: Sequence[Any], data: dict[str, Any], reason: str) -> tuple[str, str]:
    """(the id of the field a refusal at ``loc`` is shown beside, the field as the page labels
    it): a measure's part by its own label, a certificate by its body and number, a file by
    its name; a rule between the result and other fields (no ``loc``) by the result."""
    head, rest = (loc[0], loc[1:]) if loc else ("", ())
    at = rest[0] if rest and isinstance(rest[0], int) else None
    if head == "measures":
        part = rest[1] if len(rest) > 1 else "kind"
        return "measure_kind", FORM_LABELS[_MEASURE_PARTS.get(part, "measure_kind")]
    if head == "certificates" and at is not None and at < len(data["certificates"]):
        c = data["certificates"][at]
        return "certificates", certificate_label(f"{c['body']}:{c['number']}")
    if head == "evidence" and at is not None and at < len(data["evidence"]):
        name = CONTROL.sub("", data["evidence"][at]["filename"])[:64]
        said = f"“{name}”" if name.strip() else f"第 {at + 1} 个文件"
        return "attachments", f"{FIELD_LABELS['evidence']}{said}"
    if head == "evidence":
        return "attachments", FIELD_LABELS["evidence"]
    if head == "reason":
        return "reason", reason
    if head in FIELD_LABELS:
        return head, FIELD_LABELS[head]
    return "result", FIELD_LABELS["finding"]  # a rule between the fields, or none known


# pydantic's refusals of a form field, by type, as the inspector reads them
_TYPES = {
    "missing": "必填",
    "enum": "请从列表中选择",
    "literal_error": "请从列表中选择",
    "date_parsing": "应为日期，例如 2026-12-10",
    "date_from_datetime_parsing": "应为日期，例如 2026-12-10",
    "date_type": "应为日期，例如 2026-12-10",
    "string_too_long": "过长，最多 {max_length} 个字",
    "string_too_short": "不能为空（至少 {min_length} 个字）",
    "too_long": "过多，最多 {max_length} 项",
}
# the findings' own checks (English for the API) as the page says them; first match wins
_CHECKS = [
    (r"contains the control character (U\+[0-9A-F]{4})",
     "含有不可见的控制字符（{0}，多为从其他软件粘贴带入），请删去后重新填写"),
    (r"contains the invisible character (U\+[0-9A-F]{4})",
     "含有不可见字符（{0}，如文字方向控制符或零宽字符，多为粘贴带入），请删去后重新填写"),
    (r"result ordered_to_rectify: add the measure",
     "结果为“责令改正”时，请选择处理措施：责令限期改正（写明期限）或责令立即改正"),
    (r"result certificate_suspended:", "结果为“暂停认证证书”时，请在证书处理中标明被暂停的证书"),
    (r"result certificate_withdrawn:", "结果为“撤销认证证书”时，请在证书处理中标明被撤销的证书"),
    (r"deadline is before the check date", "处理措施的期限早于检查日期"),
    (r"needs a deadline", "责令限期改正须填写期限（年-月-日）"),
    (r"a certificate is listed twice", "同一证书列出了两次"),
    (r"certificates: (\S+) (\S+) is not a certificate of (\S+)",
     "证书处理：{0} {1} 不是这家企业（{2}）的证书（名录库可能已更新），请刷新页面后重新选择"),
    (r"evidence: ([0-9a-f]{64}) was not uploaded for (\S+) in (\S+) ",
     "现场照片和附件：文件 {0:.12}… 不是为这家企业本轮的检查上传的，不能列入检查结果；"
     "请在本页重新上传该文件"),
    (r"a day written YYYY-MM-DD", "应为日期，请按 年-月-日 填写，例如 2026-12-10"),
    (r"check_date: (\S+) is in the future", "检查日期 {0} 晚于今天，请填写实际检查的日期"),
    (r"check_date: (\S+) is outside the round's window \((\S+) to (\S+)\) and after this "
     r"check's due date (\S+);",
     "检查日期 {0} 不在本轮检查期间（{1} 至 {2}）内，也晚于本次检查调整后的完成期限 {3}："
     "请更正，或在“说明”中写明原因"),
    (r"check_date: (\S+) is outside the round's window \((\S+) to (\S+)\)",
     "检查日期 {0} 不在本轮检查期间（{1} 至 {2}）内：请更正，或在“说明”中写明原因"),
    (r"version (\d+) is superseded; the latest is version (\d+)",
     "您填写时依据的第 {0} 版已不是最新：同组已提交第 {1} 版。您的内容已保存为草稿，"
     "请先阅读最新版本，再签字确认或提交更正"),
]  # fmt: skip


def _said(err: Any) -> str:
    """One refusal of a field in Chinese: by its type, or one of the findings' own checks;
    anything else as pydantic says it."""
    if err["type"] in _TYPES:
        return _TYPES[err["type"]].format(**err.get("ctx", {}))
    return in_chinese(str(err["msg"]).removeprefix("Value error, "))


def too_long(reason: str, most: int = REASON_MAX) -> str:
    """A reason refused for its length, as a form's error says it (after the field's label)."""
    return f"过长，最多 {most} 个字（现为 {len(reason)} 个字）"


# a text refused by ``rounds.service.check_texts`` (its length, a character in it), as a form's
# error says it after the field's label: the words of :func:`too_long` and of a reason's field
TEXT_CHECKS = [(r"(\d+) characters, at most (\d+)", "过长，最多 {1} 个字（现为 {0} 个字）"),
               *_CHECKS[:2]]  # fmt: skip


def text_refused(message: str) -> str:
    """``check_texts``' refusal of a text (``note: 501 characters, at most 500``) as a form
    says it after the field's label (过长，最多 500 个字（现为 501 个字）)."""
    return in_chinese(message, TEXT_CHECKS)


def in_chinese(message: str, checks: Sequence[tuple[str, str]] = _CHECKS) -> str:
    """A message of the findings' checks (English, for the API) as the page says it; the
    message itself when it is not one of them. Another page passes its own ``checks``
    (pattern, what the page says: ``{0}``... are the pattern's groups); first match wins."""
    for pattern, said in checks:
        if found := re.search(pattern, message):
            return said.format(*found.groups())
    return message
