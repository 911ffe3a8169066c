"""The findings form: HTML form fields to a draft (plain dict) and a draft to :class:`FindingIn`.

A draft keeps exactly what the inspector typed, so a form refused for one field comes back with
everything else as it was; validation is :class:`findings.schemas.FindingIn`'s own.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from findings.schemas import FindingIn, first_error

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
    "evidence": "照片",
    "internal_note": "内部备注",
    "reason": "更正理由",
    "finding": "检查结果",
}


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


def finding_from_draft(draft: dict[str, Any]) -> tuple[FindingIn | None, list[str]]:
    """The version a draft describes, or the reasons (in Chinese, naming the field) it is not."""
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
    try:
        return FindingIn.model_validate(data), []
    except ValidationError as exc:
        out = []
        for loc, msg in first_error(exc):
            head = loc.split(".", 1)[0]
            out.append(f"{FIELD_LABELS.get(head, head)}（{loc}）：{msg}")
        return None, out
