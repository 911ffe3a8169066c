"""The leads pages' forms: what a coordinator typed, to :class:`leads.schemas.LeadIn` or the
reasons it is not one, in Chinese, each naming the field as the form labels it.

The rules are the schema's and the service's own (English, for the API and the CLI); this
module only says their refusals in Chinese (``workspace.forms.in_chinese``, by pattern).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import ValidationError

from leads.models import STATUS_LABELS, LeadStatus
from leads.schemas import LeadIn
from leads.service import OPEN
from workspace.forms import in_chinese
from workspace.formvalues import text

# the fields as the forms label them (lead_new.html and lead.html show these words); the
# intake's are the import's column names (docs/leads.md)
LABELS = {
    "source": "来源",
    "credit_code": "统一社会信用代码",
    "category": "线索类别",
    "received_on": "收到日期",
    "deadline": "办结期限",
    "confidential": "保密",
    "reporter": "举报人",
    "allegation": "线索内容",
    "check_item": "检查事项",
    "reason": "理由",
    "urgent": "紧急",
    "adhoc_plan": "紧急临时抽查计划",
    "into": "合并到",
}
INTAKE = ("source", "credit_code", "category", "received_on", "deadline", "reporter",
          "allegation")  # fmt: skip
KEY = re.compile(r"[0-9a-f]{32}")
# the statuses a lead may be merged into (``leads.service.merge_refusal``), as the page says them
_OPEN = [STATUS_LABELS[s] for s in OPEN]
OPEN_SAID = f"未办结（{'、'.join(_OPEN[:-1])}或{_OPEN[-1]}）"

# pydantic's refusals of a field, by kind
_KINDS = {
    "missing": "必填",
    "enum": "请从列表中选择",
    "date_parsing": "应为日期，例如 2026-12-10",
    "date_from_datetime_parsing": "应为日期，例如 2026-12-10",
    "date_type": "应为日期，例如 2026-12-10",
    "string_too_short": "必填",
    "string_too_long": "过长，最多 {max_length} 个字",
    "bool_parsing": "请勾选或不勾选",
}
# the schema's and the service's own checks (English), as the page says them; first match wins
_CHECKS = [
    (r"must be 18 characters, got 15: this looks like an old",
     "应为 18 位；这是 15 位的旧工商注册号，请填写企业的 18 位统一社会信用代码"),
    (r"must be 18 characters, got (\d+)", "应为 18 位，现为 {0} 位"),
    (r"(\S+) is the code as a spreadsheet shows a long number",
     "{0} 是电子表格把代码当作数字显示的样子，后几位已经丢失："
     "请把这一列设为“文本”格式，重新录入代码"),
    (r"characters not allowed in a credit code: (\S+)", "含有不允许的字符：{0}"),
    (r"written in full-width characters \((.*)\), as a Chinese input method types them .*: "
     r"type the code again in half-width characters \((.*)\)",
     "含有全角字符（{0}，多为中文输入法的全角状态输入）：请切换到半角后重新输入代码（{1}）"),
    (r"characters 3-8 must be a 6-digit division code", "第 3-8 位应为 6 位行政区划代码"),
    (r"characters 3-8 \((\d+)\) are not a GB/T 2260 division code",
     "第 3-8 位（{0}）不是有效的行政区划代码"),
    (r"wrong check character '(.)' \(expected '(.)'\)",
     "校验码错误：末位为 {0}，按国家标准应为 {1}；如确为真实代码，请联系管理员列入经审计的白名单"),
    (r"contains the control character (U\+[0-9A-F]{4})",
     "含有不可见的控制字符（{0}，多为从其他软件粘贴带入），请删去后重新填写"),
    (r"contains the invisible character (U\+[0-9A-F]{4})",
     "含有不可见字符（{0}，如文字方向控制符或零宽字符，多为粘贴带入），请删去后重新填写"),
    (r"must not be blank", "必填"),
    (r"a day written YYYY-MM-DD", "应为日期，请按 年-月-日 填写，例如 2026-12-10"),
    (r"^(\S+) is before received_on (\S+)", f"{{0}} 早于{LABELS['received_on']} {{1}}"),
    (r"^(\S+) is in the future", "{0} 晚于今天，请填写实际收到的日期"),
    (r"^'(.+)' is not in the check-item list", "{0} 不在检查事项清单中"),
    (r"^lead (\d+) does not exist", "没有线索 {0}"),
    (r"^a lead cannot be merged into itself", "不能合并到线索自身"),
    *((rf"^lead (\d+) is {s.value}; merge into an open lead",
       f"线索 {{0}} 的状态为“{STATUS_LABELS[s]}”，只能合并到{OPEN_SAID}的线索")
      for s in LeadStatus if s not in OPEN),
    (r"^lead (\d+) concerns (\S+), not (\S+)", "线索 {0} 涉及企业 {1}，不是本线索的企业 {2}"),
    (r"^give the reason", "必填（将记入审计日志）"),
    (r"^at most (\d+) characters", "过长，最多 {0} 个字"),
    (r"^plan (\S+) checks (\S+), not (\S+)", "计划 {0} 的检查事项是 {1}，不是 {2}"),
]  # fmt: skip
UNKNOWN = "填写有误，请核对后重新填写"
# a field the page's form sends once, as text: sent twice (which one was meant is not the
# server's to guess, and a proxy or a log may read the other) or as a file (whose Python
# description was recorded as the allegation, the reporter or a decision's reason)
TWICE = "表单中填写了不止一次，请重新打开本页面后再填写提交"
NOT_TEXT = "应为文字，不能是文件"


def said(field: str, message: str) -> str:
    """``message`` (English, of ``field``) as the page says it: ``标签：原因``; a message none
    of the checks knows still names its field, in Chinese."""
    label = LABELS.get(field, "表单")
    reason = in_chinese(message, _CHECKS)
    return f"{label}：{reason if reason != message else UNKNOWN}"


def refusal(message: str) -> str:
    """A refusal of the service (``field: reason``, English) as the page says it."""
    field, _, reason = message.partition(": ")
    return said(field, reason) if field in LABELS else said("", message)


def sent_once(form: Any, names: tuple[str, ...], labels: dict[str, str] = LABELS) -> list[str]:
    """Each of ``names`` the form sent more than once, or as a file, said by its label
    (``labels``: the page's); none of them is read then (a form of our pages sends each once,
    as text). The ad hoc page and the ceremony's form ask the same (``workspace.adhoc``)."""
    out = []
    for name in names:
        values = form.getlist(name)
        if len(values) > 1:
            out.append(f"{labels.get(name, '表单')}：{TWICE}")
        elif values and not isinstance(values[0], str):
            out.append(f"{labels.get(name, '表单')}：{NOT_TEXT}")
    return out


def intake(form: Any) -> tuple[dict[str, str], LeadIn | None, list[str]]:
    """The intake form's values (as typed, to fill the form again), and the lead they
    describe or what is wrong with them (each naming its field): a field sent twice or as a
    file is refused before any is read (:func:`sent_once`)."""
    typed = {name: text(form, name).strip() for name in INTAKE}
    typed["confidential"] = "1" if form.get("confidential") else ""
    typed["intake_key"] = text(form, "intake_key")
    if problems := sent_once(form, (*INTAKE, "confidential", "intake_key")):
        return typed, None, problems
    data: dict[str, Any] = {k: v for k, v in typed.items() if k in INTAKE and v}
    data["confidential"] = bool(typed["confidential"])
    if KEY.fullmatch(typed["intake_key"]):
        data["external_ref"] = external_ref(typed["intake_key"], data)
    try:
        return typed, LeadIn.model_validate(data), []
    except ValidationError as exc:
        return typed, None, [_field_said(err) for err in exc.errors()]


def external_ref(key: str, data: dict[str, Any]) -> str:
    """The lead a form names: its key (one per form shown) and what it asks, so the same form
    sent twice (a double click) records one lead, and the form changed and sent is another."""
    asked = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return f"workspace:{key}:{hashlib.sha256(asked.encode()).hexdigest()[:32]}"


def _field_said(err: Any) -> str:
    """One refusal of the schema: a field's (by kind or by its check), or the model's own
    (``field: reason``, as ``LeadIn._dates`` raises it)."""
    field = str(err["loc"][0]) if err["loc"] else ""
    message = str(err["msg"]).removeprefix("Value error, ")
    if not field:
        return refusal(message)
    if err["type"] in _KINDS:
        return f"{LABELS.get(field, '表单')}：{_KINDS[err['type']].format(**err.get('ctx', {}))}"
    return said(field, message)
