"""What an evidence file is: its kind by media type, and whether its first bytes fit the type it
was declared as (docs/public-record.md, "Evidence files").

Pure: bytes and strings in, answers out. A type with a signature is judged on the file's first
:data:`HEAD` bytes only, so an upload is refused before it is read whole; ``text/plain`` has no
signature and is checked as UTF-8 by the writer as it streams (``findings.evidence``).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

HEAD = 256  # enough for every signature below, an ISO-BMFF ftyp box with its brands included

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEIF = ("image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence")
INLINE = frozenset({"image/jpeg", "image/png", "image/webp"})
"""Images every browser shows: served inline and shown as thumbnails. Every other file is sent
as an attachment (HEIC too: Chromium cannot show it)."""
PHOTOS = INLINE | frozenset(HEIF)


@dataclass(frozen=True)
class Kind:
    name: str  # for the API's messages: "a PDF document"
    label: str  # for the workspace: "PDF 文件"
    extensions: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    "image/jpeg": Kind("a JPEG image", "JPEG 照片", (".jpg", ".jpeg")),
    "image/png": Kind("a PNG image", "PNG 图片", (".png",)),
    "image/webp": Kind("a WebP image", "WebP 图片", (".webp",)),
    "image/heic": Kind("a HEIC image", "HEIC 照片", (".heic",)),
    "image/heif": Kind("a HEIF image", "HEIF 照片", (".heif",)),
    "image/heic-sequence": Kind("a HEIC image sequence", "HEIC 照片", (".heics",)),
    "image/heif-sequence": Kind("a HEIF image sequence", "HEIF 照片", (".heifs",)),
    "application/pdf": Kind("a PDF document", "PDF 文件", (".pdf",)),
    "video/mp4": Kind("an MP4 video", "视频", (".mp4",)),
    "audio/mpeg": Kind("an MP3 audio file", "音频", (".mp3",)),
    "text/plain": Kind("UTF-8 text", "文本", (".txt",)),
    "application/zip": Kind("a ZIP archive", "压缩包", (".zip",)),
    DOCX: Kind("a Word document (.docx)", "Word 文档", (".docx",)),
    XLSX: Kind("an Excel workbook (.xlsx)", "Excel 表格", (".xlsx",)),
    # what a refused file may turn out to be
    "image/gif": Kind("a GIF image", "GIF 图片"),
    "image/avif": Kind("an AVIF image", "AVIF 图片"),
    "video/quicktime": Kind("a QuickTime video", "QuickTime 视频"),
    "audio/mp4": Kind("an MPEG-4 audio file", "M4A 音频"),
    "text/html": Kind("an HTML page", "网页（HTML）"),
    "application/x-ole-storage": Kind(
        "an old Office document (.doc, .xls)", "旧版 Office 文档（.doc/.xls）"
    ),
    "application/vnd.rar": Kind("a RAR archive", "RAR 压缩包"),
    "application/x-7z-compressed": Kind("a 7z archive", "7z 压缩包"),
    "application/gzip": Kind("a gzip archive", "gzip 压缩包"),
    "application/x-msdownload": Kind("a Windows program", "Windows 程序"),
    "application/x-executable": Kind("a Linux program", "Linux 程序"),
}
UNKNOWN = Kind("no kind of file shuangsui recognises", "无法识别的内容")

# names browsers and phones send for the types above
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "audio/mp3": "audio/mpeg",
    "application/x-zip-compressed": "application/zip",  # Chromium and Edge on Windows
    "application/x-zip": "application/zip",
}


def normalise(declared: str) -> str:
    """The media type of a Content-Type header, parameters dropped, by its usual name."""
    media = declared.split(";", 1)[0].strip().lower()
    return ALIASES.get(media, media)


def kind_of(media: str) -> Kind:
    return KINDS.get(media, UNKNOWN)


def by_extension(filename: str) -> str:
    """The media type a file name's extension stands for ("" when none of :data:`KINDS`)."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    return next((m for m, k in KINDS.items() if suffix and suffix in k.extensions), "")


# ---------------------------------------------------------------- signatures

PNG = b"\x89PNG\r\n\x1a\n"
ZIP = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end record
# ISO-BMFF brands of HEIF files: HEVC-coded (HEIC) first, then the generic image/sequence ones
HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
HEIF_BRANDS = HEVC_BRANDS | {b"mif1", b"msf1", b"mif2"}


def brands(head: bytes) -> list[bytes] | None:
    """The major and compatible brands of the ftyp box that opens an ISO-BMFF file (MP4, HEIC),
    None when ``head`` does not open with one."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    end = min(max(int.from_bytes(head[:4], "big"), 16), len(head))
    return [head[8:12], *(head[i : i + 4] for i in range(16, end - 3, 4))]


def _mpeg_audio(head: bytes) -> bool:
    """An ID3 tag, or an MPEG audio frame: eleven set bits of frame sync (0xFFE)."""
    return head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] >= 0xE0)


def _heif(head: bytes) -> bool:
    found = brands(head)
    return found is not None and not HEIF_BRANDS.isdisjoint(found)


CHECKS: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/png": lambda head: head.startswith(PNG),
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
    "application/pdf": lambda head: head.startswith(b"%PDF-"),
    "application/zip": lambda head: head.startswith(ZIP),
    DOCX: lambda head: head.startswith(ZIP),  # an Office Open XML file is a ZIP archive
    XLSX: lambda head: head.startswith(ZIP),
    "video/mp4": lambda head: brands(head) is not None,
    "audio/mpeg": _mpeg_audio,
    **dict.fromkeys(HEIF, _heif),
}


def fits(media: str, head: bytes) -> bool:
    """Whether a file that opens with ``head`` (its first :data:`HEAD` bytes, or all of a
    shorter file) can be of type ``media``; True for a type without a signature."""
    check = CHECKS.get(media)
    return check is None or check(head)


SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (PNG, "image/png"),
    (b"%PDF-", "application/pdf"),
    (ZIP[0], "application/zip"),
    (ZIP[1], "application/zip"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"ID3", "audio/mpeg"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x7fELF", "application/x-executable"),
)


def _iso_bmff(found: list[bytes]) -> str:
    if not HEVC_BRANDS.isdisjoint(found):
        return "image/heic"
    if b"avif" in found or b"avis" in found:
        return "image/avif"
    if not HEIF_BRANDS.isdisjoint(found):
        return "image/heif"
    return {b"qt  ": "video/quicktime", b"M4A ": "audio/mp4"}.get(found[0], "video/mp4")


def _utf8_text(head: bytes) -> bool:
    """Whether ``head`` reads as UTF-8 without NUL (a character cut at its end allowed)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return b"\0" not in head


def sniff(head: bytes) -> str:
    """What a file that opens with ``head`` looks like: a media type, "" when unknown. Only for
    saying what a refused file is; never trusted to store one."""
    for signature, media in SIGNATURES:
        if head.startswith(signature):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if (found := brands(head)) is not None:
        return _iso_bmff(found)
    if _mpeg_audio(head):
        return "audio/mpeg"
    start = head.removeprefix(codecs.BOM_UTF8).lstrip()[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if _utf8_text(head):
        return "text/plain"
    return "application/x-msdownload" if head.startswith(b"MZ") else ""


# ---------------------------------------------------------------- sending a file back


def disposition(kind: str, filename: str) -> str:
    """A Content-Disposition value (RFC 6266) for ``filename``: an ASCII stand-in, then the name
    itself as percent-encoded UTF-8 (RFC 8187). Control characters and path separators become
    ``_``; quotes, backslashes and anything not ASCII never reach the header as themselves."""
    clean = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in filename)
    ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\%;' else "_" for c in clean)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"
