"""The findings importer's problems as the round's import page says them: in Chinese.

The importer (``findings.importer``, and what it calls: the registry's reader and date and
credit-code checks, ``findings.schemas``, ``findings.dates``, ``findings.service``) words its
problems in English, for ``shuangsui findings import`` and the API; this page says each of
them in Chinese, by pattern (:data:`REASONS` for a row or a column, :data:`FILE_REASONS` for
the whole file), naming the column as the template names it. A value quoted from the file is
shown as the file has it. ``tests/workspace/test_findings_import_reasons.py`` finds every
reason the importer can give in its source and fails on one this page would show in English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from findings.categories import (
    ACTION_LABELS,
    MEASURE_LABELS,
    RESULT_LABELS,
    MeasureKind,
    ResultCategory,
)
from findings.importer import BLANK_ROWS, COLUMNS
from shuangsui.errors import RowProblem
from shuangsui.text import LINE_BREAK

FIELDS = {field: names[0] for field, names in COLUMNS.items()} | {
    "row": "整行",
    "rows": "行数",
    "header": "表头",
    "finding": "整行",  # a rule between columns (a result and its certificates or measures)
    "evidence": "证据",
}
# a column's own words, said after an unknown value in it
ALLOWED = {
    "result": "、".join(RESULT_LABELS.values()),
    "measures": "、".join(MEASURE_LABELS.values()),
    "certificates": "、".join(ACTION_LABELS.values()),
}
QUOTED = r"""['"](.*)['"]"""  # a cell's text as Python quotes it (repr)
CONTROL = r"; retype the value without it"


def _listed(text: str) -> str:
    """A list the importer joins with ", " or " or ", joined the Chinese way."""
    return re.sub(r", | or ", "、", text)


_LABELS = {
    member.value: label
    for labels in (RESULT_LABELS, MEASURE_LABELS, ACTION_LABELS)
    for member, label in labels.items()
}


def _label(value: str) -> str:
    """A result, measure or certificate action by its Chinese label (as the file may write it)."""
    return _LABELS.get(value, value)


def _at_least(groups: Sequence[str]) -> str:
    return "不能为空" if groups[0] == "1" else f"过短：至少 {groups[0]} 个字"


def _moved_on(groups: Sequence[str]) -> str:
    who = groups[2].replace("coordinator ", "协调员 ", 1)
    return (
        f"下载模板后这家企业的检查结果有了新版本（下载时第 {groups[0]} 版，现为第 {groups[1]} "
        f"版，{who} 提交）：这一行未导入。请重新下载模板，核对新版本后再填写"
    )


def _superseded(groups: Sequence[str]) -> str:
    return f"{said(groups[2]) or groups[2]}（现有最新的是第 {groups[3]} 版）"


_RECTIFY = RESULT_LABELS[ResultCategory.ordered_to_rectify]
_SUSPENDED = RESULT_LABELS[ResultCategory.certificate_suspended]
_WITHDRAWN = RESULT_LABELS[ResultCategory.certificate_withdrawn]
_MEASURE = MEASURE_LABELS[MeasureKind.rectify]
_MEASURE_NOW = MEASURE_LABELS[MeasureKind.rectify_now]
_COLUMNS = "、".join(names[0] for names in COLUMNS.values())

Said = str | Callable[[Sequence[str]], str]
# the importer's reasons for a row or a column: its whole text (``fullmatch``) -> what the
# page says, a text whose ``{0}``... are the pattern's groups, or a function of the groups
_SAID: list[tuple[str, Said]] = [
    # the file's shape (findings.importer, registry.io, registry.schema)
    (r"required", "必须填写"),
    (r"(\d+) cells, the header has (\d+)", "这一行只有 {0} 格，表头有 {1} 列"),
    (r"cell outside the header",
     "表头以外的一格有内容（多为未加引号的逗号把一格分成了两格，或写在表格右侧的备注），"
     "未导入：请删去，或写入表头中的一列"),
    (r"(\S+) in (\S+) is also on row (\d+)", "企业 {0} 在第 {2} 行已有一行"),
    (r"no round (.+)", "没有轮次 {0}"),
    (r"(\S+) was not drawn in round (\S+)", "企业 {0} 不在轮次 {1} 的抽查名单中"),
    (r"(.*) is not (\S+), the round this file is imported into",
     "这一行属于轮次 {0}，本页只导入轮次 {1}"),
    (r"more than (\d+) data rows, one per drawn enterprise at most",
     "超过 {0} 行：本轮抽中 {0} 家企业，每家最多一行"),
    (r"empty file: no header row", "空文件，没有表头"),
    (r"unknown column; did you mean (.+)\?",
     lambda g: f"无法识别的列，是否应为 {_listed(g[0])}？"),
    (r"unknown column; the columns are .*", f"无法识别的列；可用的列：{_COLUMNS}"),
    (r"column appears twice", "这一列出现了两次"),
    (r"required column is missing", "缺少这一列（必需）"),
    # a cell's content (findings.importer, findings.categories, registry.validate)
    (rf"not a real date: {QUOTED}", "“{0}”不是有效的日期"),
    (rf"not a date \(use YYYY-MM-DD\): {QUOTED} is a date as a spreadsheet stores it, a number "
     r"of days \((\S+) in Excel's 1900 date system\).*",
     "“{0}”是电子表格存放日期的方式（天数，即 {1}）：请把这一列设为“日期”格式，保存后重新导入"),
    (rf"not a date: {QUOTED} is a date and a time of day \((\S+)\); a date alone is wanted: "
     r"write (\S+), .*",
     "“{0}”是日期加时间（{1}），这里只填日期：请写成 {2}，或把这一列设为不带时间的“日期”格式"),
    (rf"not a date \(use YYYY-MM-DD\): {QUOTED}", "“{0}”不是日期，请写成 2026-12-01 的样式"),
    (rf"unknown value {QUOTED} \(allowed: .* or their Chinese labels\)",
     "无法识别的值“{0}”"),  # the column's own words follow (ALLOWED)
    (rf"write a certificate as BODY:NUMBER=ACTION, not {QUOTED}",
     "“{0}”不是证书的写法：请写成 认证机构代码:证书编号=处理（保持、暂停或撤销），"
     "几张证书用“；”隔开"),
    (rf"contains the control character (U\+[0-9A-F]+){CONTROL}",
     "含有看不见的控制字符 {0}（多为从其他软件粘贴带入），请删去后重新填写这一格"),
    (rf"contains the invisible character (U\+[0-9A-F]+) \(.*\){re.escape(LINE_BREAK)}{CONTROL}",
     "含有看不见的分隔符 {0}（多为从 Word 或 PDF 粘贴带入：有的软件显示为换行，有的不显示），"
     "请删去后重新填写这一格，需要换行处用普通的换行"),
    (rf"contains the invisible character (U\+[0-9A-F]+) \(.*\){CONTROL}",
     "含有看不见的字符 {0}（如文字方向控制符或零宽字符，多为粘贴带入），"
     "请删去后重新填写这一格"),
    (rf"contains .*{CONTROL}", "含有看不见的字符，请删去后重新填写这一格"),
    # the credit code (registry.uscc)
    (r"must be 18 characters, got 15: this looks like an old .*",
     "只有 15 位，像是旧的工商注册号：请填写企业 18 位的统一社会信用代码"),
    (r"must be 18 characters, got (\d+)", "应为 18 位，这里是 {0} 位"),
    (r"(\S+) is the code as a spreadsheet shows a long number, .*",
     "{0} 是电子表格把代码当作数字显示的样子，后几位已经丢失："
     "请把这一列设为“文本”格式，重新录入代码"),
    (r"characters not allowed in a credit code: (.*)", "含有统一社会信用代码不用的字符：{0}"),
    (r"written in full-width characters \((.*)\), as a Chinese input method types them .*: "
     r"type the code again in half-width characters \((.*)\)",
     "含有全角字符（{0}，多为中文输入法的全角状态输入）：请切换到半角后重新输入代码（{1}）"),
    (r"characters 3-8 must be a 6-digit division code",
     "第 3 至 8 位应为 6 位数字的行政区划代码"),
    (r"characters 3-8 \((\S+)\) are not a GB/T 2260 division code",
     "第 3 至 8 位（{0}）不是 GB/T 2260 中的行政区划代码"),
    (rf"wrong check character {QUOTED} \(expected ['\"](.*)['\"]\); .*",
     "校验码（第 18 位）应为 {1}，这里是 {0}：请核对代码"
     "（确是真实代码的，请管理员连同原因加入白名单）"),
    # what a finding holds (findings.schemas, pydantic's own limits)
    (r"a certificate is listed twice", "同一张证书写了两次"),
    (r"result certificate_suspended: .*",
     f"检查结果为“{_SUSPENDED}”：请在“涉及证书”一列写明被暂停的证书（处理为“暂停”）"),
    (r"result certificate_withdrawn: .*",
     f"检查结果为“{_WITHDRAWN}”：请在“涉及证书”一列写明被撤销的证书（处理为“撤销”）"),
    (r"result ordered_to_rectify: .*",
     f"检查结果为“{_RECTIFY}”：请在“处理措施”一列写明{_MEASURE}（附期限）或{_MEASURE_NOW}"),
    (r"measure (\S+): deadline is before the check date",
     lambda g: f"处理措施“{_label(g[0])}”的期限早于检查日期"),
    (r".* \(rectify\) needs a deadline \(YYYY-MM-DD\)",
     f"{_MEASURE}须写明期限，写法如：{_MEASURE}@2027-01-15"),
    (r"String should have at most (\d+) characters?", "过长：最多 {0} 个字"),
    (r"String should have at least (\d+) characters?", _at_least),
    (r"String should match pattern .*", "格式不对"),
    (r"List should have at most (\d+) items? after validation, not (\d+)",
     "过多：最多 {0} 项，这里有 {1} 项"),
    (r"a day written YYYY-MM-DD.*", "应为日期，请按 年-月-日 填写，例如 2026-12-10"),
    # the check date (findings.dates)
    (r"(\S+) is in the future \(today is (\S+), [^)]*\); enter the day .*",
     "{0} 晚于今天（{1}）：请填写实际检查的日期"),
    (r"(\S+) is outside the round's window \((\S+) to (\S+)\) and after this check's due "
     r"date (\S+); correct it.*",
     "{0} 不在本轮检查期间（{1} 至 {2}）内，也晚于这家企业检查调整后的完成期限 {3}："
     "请改正，或在“原因”一列写明为何在这一天检查"),
    (r"(\S+) is outside the round's window \((\S+) to (\S+)\); correct it.*",
     "{0} 不在本轮检查期间（{1} 至 {2}）内：请改正，或在“原因”一列写明为何在这一天检查"),
    # the round's records (findings.service, findings.history)
    (r"(.+) is not on the team of (\S+) in (\S+) \(team: (.*)\)",
     lambda g: f"{_listed(g[0])} 不是这家企业检查组的成员（检查组：{_listed(g[3])}），"
     "请照抄“检查组”一列"),
    (r"(.+) is marked inactive in the registry and may no longer sign a finding",
     lambda g: f"{_listed(g[0])} 在检查员名录中已停用，不能再签字确认检查结果："
     "请从“签字人员”一列删去"),
    (r"(.+) is not a certificate of (\S+)", "证书 {0} 不是企业 {1} 的证书"),
    (r"(\S+) was not uploaded for (\S+) in (\S+) \(upload the file for this assignment first\)",
     "证据文件 {0} 不是为企业 {1} 在轮次 {2} 的检查上传的：请先为这项检查上传该文件"),
    (r"(\S+?)/(\S+): (.+); the latest is version (\d+), submitted by (.+) at (\S+): "
     r"read it, then sign it or correct it \(.*\)", _superseded),
    (r"a version exists already \(a correction is a new version and needs a reason\)",
     "这家企业已有检查结果，导入的内容与之不同：这是一次更正，须在“原因”一列写明更正原因"),
    (r"version (\d+) is superseded", "第 {0} 版已不是最新的一版"),
    (r"(\S+?)/(\S+) has no version (\d+) yet", "这家企业还没有第 {2} 版检查结果"),
    (r"round (\S+) has no assignment for enterprise (\S+)",
     "轮次 {0} 没有给企业 {1} 派检查组"),
    (r"(.+): (\S+) is (.*), not (.+)", "“{0}”：{1} 是{2}，不是{3}。请照抄“检查组”一列"),
    (r"not a version number: '(.*)' \(the template's own, left as it is\)",
     "“{0}”不是版本号：这一列是模板自带的，请保持原样"),
    (r"version (\d+) when the template was made, version (\d+) now, submitted by (.+) at "
     r"(\S+): download the template again and fill this row in from it", _moved_on),
    (r"(\S+?)/(\S+) has (\d+) versions, the most a finding may have; .*",
     "这家企业的检查结果已有 {2} 版，已到每家企业的上限，不能再记录更正。请联系本局的系统管理员"),
    (r"blank in a file with this column: copy it from the round's template as it is .*",
     "为空：这一列是模板自带的，请照模板原样保留（尚无检查结果的企业为 0）"),
    (r"a formula \((.*)\): type the value itself; a formula's result is not read",
     "“{0}”是公式：请直接填写内容（本页不读取公式的计算结果）"),
    (r"version (\d+) when the template was made, none now: download it again",
     "下载模板时这家企业有第 {0} 版检查结果，现在没有：请重新下载模板"),
]  # fmt: skip
REASONS = [(re.compile(pattern), zh) for pattern, zh in _SAID]

# the reader's refusals of a whole file, by what they say
FILE_REASONS: list[tuple[str, str]] = [
    (
        "not an XLSX workbook",
        "不是 XLSX 工作簿。请另存为 .xlsx（Excel 2007 及以后）或 CSV 后再导入",
    ),
    (
        "neither UTF-8 nor GB18030",
        "不是 UTF-8 或 GB18030/GBK 编码的文本。请另存为 UTF-8 CSV 后再导入",
    ),
    ("no data rows below the header", "表头下面没有数据行"),
    ("not readable as CSV", "无法按 CSV 读取（某一格过长或格式有误）"),
    ("ran at the same time", "另一次导入或提交同时在进行。请重新导入这个文件"),
    ("by too many writers at once", "另一次导入或提交同时在进行。请重新导入这个文件"),
    ("unsupported file type", "只能导入 .xlsx 或 .csv 文件"),
    ("a folder, not a file", "是文件夹，不是文件"),
    ("not a regular file", "不是普通文件（是管道、设备或套接字）"),
    ("no such file", "找不到这个文件"),
]
# the reader's refusals of a sheet that runs on below the table, with its numbers (the last
# row this import reads: the header, one per drawn enterprise, BLANK_ROWS more)
_READS = "本页读取表头、本轮每家抽中企业一行，另加 {blank} 行，到第 {last} 行为止"
FILE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"UTF-16 text \(Excel's 'Unicode text'\)"),
     "是 UTF-16 编码的文本（Excel 的“Unicode 文本”），不是 UTF-8 或 GB18030/GBK。"
     "请另存为“CSV UTF-8（逗号分隔）”后再导入"),
    (re.compile(r"UTF-8 text \(.*\) but not from (line )?(?P<line>\d+)"),
     "是 UTF-8 编码的文本，但第 {line} 行有不属于 UTF-8 的字节（多为从别处粘贴了其他编码的字符）。"
     "请重新输入这一行，或重新另存为 UTF-8 CSV 后再导入"),
    (re.compile(r"not UTF-8 from line (?P<utf8>\d+) .*, not GB18030 from line (?P<gb>\d+) "),
     "不是 UTF-8 或 GB18030/GBK 编码的文本（按 UTF-8 读到第 {utf8} 行出错，按 GBK 读到第 {gb} "
     "行出错，多为粘贴了别的编码的文字）。请另存为 UTF-8 CSV 后再导入"),
    (re.compile(r"the sheet's used range reaches row (?P<far>\d+), past row (?P<last>\d+)"),
     "工作表用到了第 {far} 行（包括只设了格式的单元格），超出本页读取的范围（" + _READS
     + "）。请删除表格下方的行后再导入"),
    (re.compile(r"part (?P<part>\S+) unpacks to (?P<size>\d+) bytes, past the (?P<limit>\d+) "
                r"this import reads of a part"),
     "其中的 {part} 解压后有 {size} 字节，超过本页按本轮抽中企业数读取的上限 {limit} 字节"
     "（不像是一轮的检查结果）。请只把表格另存为新的工作簿或 CSV 后再导入"),
    (re.compile(r"part (?P<part>\S+) unpacks to more than the (?P<size>\d+) bytes the "
                r"workbook's directory declares"),
     "其中的 {part} 解压后比文件目录登记的 {size} 字节多（不是 Excel 保存的工作簿）。"
     "请在 Excel 中另存为 .xlsx 或 CSV 后再导入"),
    (re.compile(r"part (?P<part>\S+) is compressed by method (?P<method>\d+), not as Excel "
                r"writes a workbook"),
     "其中的 {part} 用第 {method} 种方法压缩，不是 Excel 保存工作簿的方法。"
     "请在 Excel 中另存为 .xlsx 或 CSV 后再导入"),
    (re.compile(r"past row (?P<last>\d+), the last this import reads"),
     "第 {last} 行以下还有行，超出本页读取的范围（" + _READS + "）。请删除表格下方的行后再导入"),
]  # fmt: skip


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    reason: str


def said(reason: str) -> str | None:
    """What the page says for one of the importer's reasons; None for a reason it does not
    know."""
    for pattern, zh in REASONS:
        if found := pattern.fullmatch(reason):
            return zh(found.groups()) if callable(zh) else zh.format(*found.groups())
    return None


def column(field: str) -> str:
    """A problem's column as the template names it: ``certificates.0.body`` is the first
    certificate of 涉及证书."""
    if found := re.fullmatch(r"column (\d+)", field):  # a cell outside the header
        return f"第 {found.group(1)} 列"
    head, _, rest = field.partition(".")
    name = FIELDS.get(head, head)
    item = rest.partition(".")[0]
    return f"{name}（第 {int(item) + 1} 项）" if item.isdigit() else name


def in_chinese(problem: RowProblem) -> Problem:
    zh = said(problem.reason)
    if zh is None:
        return Problem(problem.row, column(problem.field), problem.reason)
    if zh.startswith("无法识别的值") and problem.field in ALLOWED:
        zh += f"；可填写：{ALLOWED[problem.field]}"
    return Problem(problem.row, column(problem.field), zh)


def file_refusal(message: str, stored: Path, shown: str) -> str:
    """A refusal of the whole file: in Chinese where it is one the reader gives, the server's
    path replaced by the upload's name."""
    zh = next((zh for en, zh in FILE_REASONS if en in message), "")
    for pattern, said in FILE_PATTERNS:
        if found := pattern.search(message):
            zh = said.format(**found.groupdict(), blank=BLANK_ROWS)
            break
    return f"文件 {shown}：{zh}。" if zh else message.replace(str(stored), shown)
