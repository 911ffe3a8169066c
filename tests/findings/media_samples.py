"""Small files of every kind evidence may be, made here rather than stored: each opens with its
kind's real signature (a PNG that decodes, a ZIP that unzips), the rest is filler."""

from __future__ import annotations

import io
import struct
import zipfile

from findings.media import DOCX, XLSX
from tests.workspace.helpers import PNG


def _zip(name: str, text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(name, text)
    return out.getvalue()


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    box = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(box)) + b"ftyp" + box + b"\0\0\0\x08free"


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\0" * 64
WEBP = b"RIFF\x1e\0\0\0WEBPVP8L\x0a\0\0\0/" + b"\0" * 17
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HEIC = _ftyp(b"heic", b"mif1", b"heic") + b"\0" * 64
HEIF = _ftyp(b"mif1", b"mif1") + b"\0" * 64
MP4 = _ftyp(b"isom", b"isom", b"iso2", b"mp41") + b"\0" * 64
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\0" * 64
MP3_FRAME = b"\xff\xfb\x90\x64" + b"\0" * 64  # no ID3 tag: the frame sync
TEXT = "检查记录：现场核对证书与产品一致。\n".encode()
ZIP = _zip("记录.txt", "检查记录")
EMPTY_ZIP = b"PK\x05\x06" + b"\0" * 18

# (media type, file name, bytes) of every kind accepted by default
SAMPLES = [
    ("image/jpeg", "门头.jpg", JPEG),
    ("image/png", "gate.png", PNG),
    ("image/webp", "产品.webp", WEBP),
    ("image/heic", "IMG_0001.HEIC", HEIC),
    ("image/heif", "IMG_0002.heif", HEIF),
    ("application/pdf", "整改通知书.pdf", PDF),
    ("video/mp4", "现场.mp4", MP4),
    ("audio/mpeg", "询问录音.mp3", MP3),
    ("text/plain", "说明.txt", TEXT),
    ("application/zip", "资料.zip", ZIP),
    (DOCX, "检查记录.docx", _zip("word/document.xml", "<w:document/>")),
    (XLSX, "产品清单.xlsx", _zip("xl/workbook.xml", "<workbook/>")),
]
