"""Small files of every kind evidence may be, made here rather than stored: each opens with its
kind's real signature (a PNG, a JPEG and a WebP that decode, a ZIP that unzips), the rest is
filler. The photos a browser shows are whole images: a thumbnail of filler is a broken image."""

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


# a baseline JPEG of 2×2 grey pixels (JFIF, one component)
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080002000201011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d0102030004110512213141061351610722711432"
    "8191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a43444546474849"
    "4a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3"
    "a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9ea"
    "f1f2f3f4f5f6f7f8f9faffda0008010100003f002bffd9"
)
WEBP = bytes.fromhex("524946461a000000574542505650384c0d0000002f00000010071011118888fe0700")  # 1×1
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
