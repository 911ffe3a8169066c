"""A round's findings imported from its page: the coordinator uploads the round's 检查结果导入模板
filled in (XLSX or CSV), and it is imported as ``shuangsui findings import`` imports a file
(``findings.importer``): every bad row named, and nothing written unless every row is good.

The page's import takes this round's rows only, at most one per drawn enterprise (a file with
more is refused at the first row past them, before the rest is read); rows the template gave
and nobody filled in are skipped. A problem is shown by its row and column as the template
names them, each reason the importer gives said in Chinese (``workspace.import_reasons``). The
upload is named by its own file name, never by where the server kept it; an XLSX that would
inflate past :data:`MAX_INFLATED` is refused before it is opened, and so is one with a part
(its shared strings, its sheet) past what the round's rows may hold
(``findings.importer.part_limit``, by the enterprises drawn): openpyxl holds every shared
string in memory at once.
"""

from __future__ import annotations

import shutil
import tempfile
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from findings.importer import Imported, import_file
from rounds.models import Selection
from shuangsui.errors import ImportRejected, UserError
from workspace.coordinator import Coordinator, known_round, round_path
from workspace.guards import Visitor, check_csrf, still_current
from workspace.import_reasons import file_refusal, in_chinese
from workspace.inspector import read_form
from workspace.pages import render

router = APIRouter(prefix="/w/c", include_in_schema=False)

MAX_BYTES = 10 * 1024 * 1024  # the request body (api.limits): a round's file is far smaller
MAX_INFLATED = 64 * 1024 * 1024  # an XLSX's parts, uncompressed
SHOWN = 200  # problems listed on the page (the count says how many there are)
SUFFIXES = (".xlsx", ".csv")


def shown_name(filename: str | None) -> str:
    """The upload's own file name as the page names it: its last part only (a ``../`` or a
    Windows path leaves nothing but the name), no control or direction characters, at most
    80 characters."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    return (name[:80] + "…" if len(name) > 80 else name) or "上传的文件"


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
