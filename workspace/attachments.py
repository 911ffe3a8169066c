"""Evidence files as the inspector's page shows them: a thumbnail for an image every browser
shows, a link with its kind, name and size for every other file (a HEIC photo among them); the
page's file input; and what the page says when a file is refused."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from findings import evidence, media
from findings.models import Evidence
from shuangsui.errors import UserError
from shuangsui.paths import inside
from shuangsui.text import CONTROL
from workspace.drafts import NAME_MAX
from workspace.guards import PageRefused


@dataclass(frozen=True)
class Attachment:
    sha256: str
    filename: str
    kind: str  # 照片, PDF 文件, 视频 ... (findings.media.KINDS)
    size: str  # 1.2 MB
    thumbnail: bool  # an <img>; otherwise a link
    photo: bool


@dataclass(frozen=True)
class Shown:
    """The evidence of a draft or a version, in the order it was attached."""

    items: list[Attachment]

    @property
    def heading(self) -> str:
        return "照片" if all(a.photo for a in self.items) else "附件"


def size_label(size: int) -> str:
    if size < 1024:
        return f"{size} 字节"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f}".removesuffix(".0") + " KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def _attachment(ref: dict[str, Any], row: Evidence | None) -> Attachment:
    sha = ref["sha256"]
    media_type = row.media_type if row else ""
    return Attachment(
        sha256=sha,
        filename=ref.get("filename") or (row.filename if row else "") or sha[:12],
        kind=media.KINDS[media_type].label if media_type in media.KINDS else "文件",
        size=size_label(row.size) if row else "",
        thumbnail=media_type in media.INLINE,
        photo=media_type in media.PHOTOS,
    )


def lookup(engine: Engine, refs: Iterable[dict[str, Any]]) -> Callable[[list[Any]], Shown]:
    """Reads the rows of every file in ``refs`` at once; the page calls what it returns with the
    evidence of the draft or of each version."""
    shas = {e["sha256"] for e in refs}
    rows: dict[str, Evidence] = {}
    if shas:
        with Session(engine) as db:
            found = db.exec(select(Evidence).where(col(Evidence.sha256).in_(shas)))
            rows = {r.sha256: r for r in found}

    def shown(of: list[Any]) -> Shown:
        return Shown([_attachment(e, rows.get(e["sha256"])) for e in of])

    return shown


def _in_order(types: set[str]) -> list[str]:
    """Known types in the order of ``media.KINDS``, then any other by name."""
    known = [m for m in media.KINDS if m in types]
    return known + sorted(types - set(known))


def _labels(types: Iterable[str]) -> str:
    labels = [media.KINDS[m].label if m in media.KINDS else m for m in types]
    return "、".join(dict.fromkeys(labels))


def file_input(allowed: set[str]) -> tuple[str, str]:
    """The ``accept`` of the page's file input (each allowed type and its file extensions, as
    phones match either), and the kinds of file it takes beside photos the browser shows."""
    ordered = _in_order(allowed)
    accept = ",".join(x for m in ordered for x in (m, *media.kind_of(m).extensions))
    return accept, _labels(m for m in ordered if m not in media.INLINE)


# a name past it is quoted by its start (a name of 2,000 characters is no help on a phone)
NAME_SHOWN = 40


def name_shown(filename: str) -> str:
    """A file's name as a refusal quotes it: without control and invisible characters, and a
    name longer than :data:`NAME_SHOWN` characters by its start and “…”."""
    name = CONTROL.sub("", filename)
    return name if len(name) <= NAME_SHOWN else name[: NAME_SHOWN - 8] + "…"


def name_refused(filename: str) -> str | None:
    """Why the page does not take a file under ``filename``, in Chinese, naming the file (None:
    it does), as ``POST /findings/…/evidence`` refuses its ``filename``: a control or invisible
    character (a NUL stops PostgreSQL's insert; a right-to-left mark shows the name reversed;
    and the finding's schema refuses such a name, so a draft holding it could never be
    submitted, the page having no way to rename a file), a folder's path, or more than
    :data:`workspace.drafts.NAME_MAX` characters (the finding's bound: such a name was cut
    there, its extension lost). The name is quoted as :func:`name_shown` quotes it."""
    said = f"文件“{name_shown(filename)}”未保存："
    if len(filename) > NAME_MAX:
        return said + (
            f"文件名过长（{len(filename)} 个字符），最多 {NAME_MAX} 个字符。请给文件改名后再上传。"
        )
    if found := CONTROL.search(filename):
        return said + (
            f"文件名中有看不见的字符（U+{ord(found[0]):04X}，控制字符、文字方向控制符或零宽字符）。"
            "请给文件改名后再上传。"
        )
    if "/" in filename or "\\" in filename:
        return said + "文件名中不能有“/”或“\\”（那是文件夹的路径）。请给文件改名后再上传。"
    return None


def too_many(filename: str, most: int, held: int) -> str:
    """Why a file past what a finding cites (``most``; ``held`` in the draft) was not stored."""
    return (f"文件“{name_shown(filename)}”未保存：一次检查结果最多 {most} 个照片和文件，"
            f"草稿中已有 {held} 个。请先勾选“移除”不需要的，点“保存草稿”，再添加。")  # fmt: skip


def refusal(exc: UserError, filename: str) -> str:
    """Why a file was not stored, in Chinese, naming it."""
    said = f"文件“{filename}”未保存："
    if isinstance(exc, evidence.EvidenceMismatch):
        if exc.declared == "text/plain":
            return said + (
                "它声明为文本（text/plain），但内容不是 UTF-8 编码的文本（可能是 GBK 等其他编码）。"
                "请另存为 UTF-8 或 PDF 后再上传。"
            )
        declared = media.kind_of(exc.declared).label
        found = media.kind_of(exc.found).label
        return said + (
            f"它声明为{declared}（{exc.declared}），但内容看起来是{found}。"
            "请确认文件完好、扩展名没有被改动后再上传。"
        )
    if isinstance(exc, evidence.EvidenceTypeRefused):
        kinds = _labels(_in_order(exc.allowed))
        return said + f"不接受这种文件（{exc.declared or '未知类型'}）。可以上传：{kinds}。"
    if isinstance(exc, evidence.EvidenceTooLarge):
        return said + f"文件超过 {size_label(exc.limit)} 的上限，请压缩或拆分后再上传。"
    if isinstance(exc, evidence.EvidenceEmpty):
        return said + "文件是空的。"
    if isinstance(exc, evidence.EvidenceNameRefused):
        return said + (
            "文件名只有点或空格，不是文件的名字（“.”“..”指文件夹）。请给文件改名后再上传。"
        )
    return said + str(exc)


def served(engine: Engine, home: Path, sha256: str, named: set[str]) -> FileResponse:
    """The stored file ``sha256`` when the page asking for it names it (``named``: the files of
    its versions, and the visitor's own draft), nothing else: a photo the browser shows inline,
    any other file as an attachment, never sniffed (``findings.evidence.served_headers``),
    under the name the page's assignment gave it (``findings.evidence.servable``)."""
    if sha256 not in named:
        raise PageRefused(404, "这项任务没有这个文件。")
    with Session(engine) as db:
        row = db.get(Evidence, sha256)
    if row is None:
        raise PageRefused(404, "这个文件不在服务器上。")
    path = inside(evidence.evidence_dir(home), sha256)
    name = named.names.get(sha256, "") if isinstance(named, evidence.Servable) else None
    headers = evidence.served_headers(row, inline_images=True, name=name)
    return FileResponse(path, media_type=row.media_type, headers=headers)
