"""A round's findings imported from its page: the coordinator uploads the round's 检查结果导入模板
filled in (XLSX or CSV), and it is imported as ``shuangsui findings import`` imports a file
(``findings.importer``): every bad row named, and nothing written unless every row is good.

The page's import takes this round's rows only, at most one per drawn enterprise (a file with
more is refused at the first row past them, before the rest is read); rows the template gave
and nobody filled in are skipped. A problem is shown by its row and column as the file names
them, in Chinese where the importer's reason is one of the file's own (a missing cell, a row
cut short, a row of another round...); a reason about a cell's content is shown as the
importer words it. The upload is named by its own file name, never by where the server kept
it; an XLSX that would inflate past :data:`MAX_INFLATED` is refused before it is opened.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from findings.categories import ACTION_LABELS, MEASURE_LABELS, RESULT_LABELS
from findings.importer import COLUMNS, Imported, import_file
from rounds.models import Selection
from shuangsui.errors import ImportRejected, RowProblem, UserError
from workspace.coordinator import Coordinator, known_round, round_path
from workspace.guards import Visitor, check_csrf, still_current
from workspace.inspector import read_form
from workspace.pages import render

router = APIRouter(prefix="/w/c", include_in_schema=False)

MAX_BYTES = 10 * 1024 * 1024  # the request body (api.limits): a round's file is far smaller
MAX_INFLATED = 64 * 1024 * 1024  # an XLSX's parts, uncompressed
SHOWN = 200  # problems listed on the page (the count says how many there are)
SUFFIXES = (".xlsx", ".csv")

FIELDS = {field: names[0] for field, names in COLUMNS.items()} | {
    "row": "整行",
    "rows": "行数",
    "header": "表头",
}
# the importer's reasons about the file's shape, in Chinese; ``{0}``... are the pattern's groups
REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"required"), "必须填写"),
    (re.compile(r"(\d+) cells, the header has (\d+)"), "这一行只有 {0} 格，表头有 {1} 列"),
    (re.compile(r"(\S+) in (\S+) is also on row (\d+)"), "企业 {0} 在第 {2} 行已有一行"),
    (re.compile(r"no round (.+)"), "没有轮次 {0}"),
    (re.compile(r"(\S+) was not drawn in round (\S+)"), "企业 {0} 不在轮次 {1} 的抽查名单中"),
    (
        re.compile(r"(.*) is not (\S+), the round this file is imported into"),
        "这一行属于轮次 {0}，本页只导入轮次 {1}",
    ),
    (
        re.compile(r"more than (\d+) data rows, one per drawn enterprise at most"),
        "超过 {0} 行：本轮抽中 {0} 家企业，每家最多一行",
    ),
    (
        re.compile(r"(\S+) is in the future \(today is (\S+), [^)]*\); enter the day .*"),
        "{0} 晚于今天（{1}）：请填写实际检查的日期",
    ),
    (
        re.compile(r"(\S+) is outside the round's window \((\S+) to (\S+)\); correct it.*"),
        "{0} 不在本轮检查期间（{1} 至 {2}）内：请改正，或在“原因”一列写明为何在这一天检查",
    ),
    (re.compile(r"not a real date: '(.*)'"), "“{0}”不是有效的日期"),
    (
        re.compile(r"not a date \(use YYYY-MM-DD\): '(.*)'"),
        "“{0}”不是日期，请写成 2026-12-01 的样式",
    ),
    (
        re.compile(r"unknown value '(.*)' \(allowed: .* or their Chinese labels\)"),
        "无法识别的值“{0}”",  # the column's own words follow (ALLOWED)
    ),
    (
        re.compile(r"contains the invisible character (U\+[0-9A-F]+) .*"),
        "含有看不见的字符 {0}，请重新输入这一格",
    ),
    (
        re.compile(r"(.+) is not on the team of (\S+) in (\S+) \(team: (.*)\)"),
        "{0} 不是这家企业检查组的成员（检查组：{3}），请照抄“检查组”一列",
    ),
    (re.compile(r"empty file: no header row"), "空文件，没有表头"),
    (re.compile(r"unknown column; did you mean (.+)\?"), "无法识别的列，是否应为 {0}？"),
    (re.compile(r"unknown column.*"), "无法识别的列"),
    (re.compile(r"column appears twice"), "这一列出现了两次"),
    (re.compile(r"required column is missing"), "缺少这一列（必需）"),
]
# a column's own words, said after an unknown value in it
ALLOWED = {
    "result": "、".join(RESULT_LABELS.values()),
    "measures": "、".join(MEASURE_LABELS.values()),
    "certificates": "、".join(ACTION_LABELS.values()),
}
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
]


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    reason: str


def shown_name(filename: str | None) -> str:
    """The upload's own file name as the page names it: its last part only (a ``../`` or a
    Windows path leaves nothing but the name), no control or direction characters, at most
    80 characters."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    return (name[:80] + "…" if len(name) > 80 else name) or "上传的文件"


def in_chinese(problem: RowProblem) -> Problem:
    column = FIELDS.get(problem.field, problem.field)
    for pattern, said in REASONS:
        if found := pattern.fullmatch(problem.reason):
            groups = [g.replace(" or ", "、") for g in found.groups()]
            said = said.format(*groups)
            if said.startswith("无法识别的值") and problem.field in ALLOWED:
                said += f"；可填写：{ALLOWED[problem.field]}"
            return Problem(problem.row, column, said)
    return Problem(problem.row, column, problem.reason)


def file_refusal(message: str, stored: Path, shown: str) -> str:
    """A refusal of the whole file: in Chinese where it is one the reader gives, the server's
    path replaced by the upload's name."""
    said = next((zh for en, zh in FILE_REASONS if en in message), "")
    return f"文件 {shown}：{said}。" if said else message.replace(str(stored), shown)


def _inflates_past(path: Path, limit: int) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist()) > limit
    except (zipfile.BadZipFile, OSError):
        return False  # not a zip at all: the reader says it is no workbook


def _drawn(engine: sa.Engine, round_key: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(Selection)
        .where(
            Selection.round_key == round_key  # type: ignore[arg-type]
        )
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _page(me: Visitor, round_key: str, status: int, **context: object) -> Response:
    return render(
        "import.html",
        status,
        me=me.name,
        round_key=round_key,
        base=round_path(round_key),
        csrf=me.csrf,
        shown_limit=SHOWN,
        **context,
    )


@router.post("/rounds/{round_key}/import")
async def import_round_findings(round_key: str, request: Request, me: Coordinator) -> Response:
    """The round's filled-in template: imported whole, or nothing and a page naming each
    problem by its row and column."""
    form = await read_form(request)
    try:
        await check_csrf(request, me)
        engine = request.app.state.engine
        await run_in_threadpool(known_round, engine, round_key)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _page(me, round_key, 422, refused="请选择要导入的文件（.xlsx 或 .csv）。")
        shown = shown_name(upload.filename)
        suffix = Path(shown).suffix.lower()
        if suffix not in SUFFIXES:
            refused = f"文件 {shown}：只能导入 .xlsx 或 .csv 文件（用本轮的检查结果导入模板填写）。"
            return _page(me, round_key, 422, refused=refused)
        drawn = await run_in_threadpool(_drawn, engine, round_key)
        if not drawn:
            return _page(
                me, round_key, 422, refused=f"轮次 {round_key} 尚未摇号，没有可导入的企业。"
            )
        allowed = still_current(request, me)
        with tempfile.TemporaryDirectory(prefix="findings-import-") as tmp:
            stored = Path(tmp) / f"upload{suffix}"
            with stored.open("wb") as fh:
                await run_in_threadpool(shutil.copyfileobj, upload.file, fh)
            if suffix == ".xlsx" and _inflates_past(stored, MAX_INFLATED):
                refused = (
                    f"文件 {shown}：解压后超过 {MAX_INFLATED // 1024 // 1024} MB，"
                    "不像是一轮的检查结果。请检查文件。"
                )
                return _page(me, round_key, 422, refused=refused)
            try:
                done: Imported = await run_in_threadpool(
                    lambda: import_file(
                        engine,
                        stored,
                        imported_by=me.name,
                        name=shown,
                        only_round=round_key,
                        max_rows=drawn,
                        allowed=allowed,
                    )
                )
            except ImportRejected as rejected:
                problems = [in_chinese(p) for p in rejected.problems[:SHOWN]]
                return _page(
                    me, round_key, 422, shown=shown, problems=problems, total=rejected.total
                )
            except UserError as exc:
                return _page(me, round_key, 422, refused=file_refusal(str(exc), stored, shown))
    finally:
        await form.close()
    query = f"imported={done.new}&recorded={done.recorded}&unfilled={done.unfilled}"
    return RedirectResponse(f"{round_path(round_key)}?{query}#import", status_code=303)
