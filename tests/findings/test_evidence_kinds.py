"""Evidence of every allowed kind is stored as declared, HEIC/HEIF photos among them; a file whose
first bytes are not of its declared type (or text that is not UTF-8) is refused with a message
naming it, what it declared and what it looks like, and leaves no file and no row."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import evidence, media
from findings.models import Evidence
from findings.settings import FindingsSettings
from tests.findings import media_samples as s
from tests.workspace.helpers import PNG


def _stored(engine: sa.Engine, home: Path) -> tuple[list[str], list[str]]:
    """The files in the evidence folder (temporary ones included) and the evidence rows."""
    folder = evidence.evidence_dir(home)
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    with Session(engine) as db:
        rows = sorted(r.sha256 for r in db.exec(select(Evidence)))
    return files, rows


@pytest.mark.parametrize(("declared", "name", "data"), s.SAMPLES, ids=[x[1] for x in s.SAMPLES])
def test_every_kind_allowed_by_default_is_stored_as_declared(
    engine: sa.Engine, tmp_path: Path, declared: str, name: str, data: bytes
) -> None:
    row = evidence.store_bytes(engine, tmp_path, data, media_type=declared, filename=name)
    assert (row.media_type, row.filename, row.size) == (declared, name, len(data))
    assert (evidence.evidence_dir(tmp_path) / row.sha256).read_bytes() == data


def test_phone_photos_are_accepted_by_default_and_their_sequences_when_added(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {"image/heic", "image/heif"} <= FindingsSettings().media_types
    with pytest.raises(evidence.EvidenceTypeRefused, match="not accepted"):
        evidence.store_bytes(engine, tmp_path, s.HEIC, media_type="image/heic-sequence")
    monkeypatch.setenv("SHUANGSUI_EVIDENCE_MEDIA_TYPES", "image/heic-sequence,image/jpg")
    row = evidence.store_bytes(engine, tmp_path, s.HEIC, media_type="image/heic-sequence")
    assert row.media_type == "image/heic-sequence"
    with pytest.raises(evidence.EvidenceMismatch):
        evidence.store_bytes(engine, tmp_path, s.MP4, media_type="image/heic-sequence")
    # a name phones send for JPEG, in the setting and in the upload, is JPEG
    row = evidence.store_bytes(engine, tmp_path, s.JPEG, media_type="image/jpg")
    assert row.media_type == "image/jpeg"


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600  # a .doc renamed .docx
REFUSED = [
    # declared, file name, bytes, what they look like, words the message has
    ("image/png", "gate.zip", s.ZIP, "application/zip", "looks like a ZIP archive"),
    ("application/pdf", "整改通知书.pdf", PNG, "image/png", "looks like a PNG image"),
    ("image/heic", "IMG_0003.HEIC", s.MP4, "video/mp4", "looks like an MP4 video"),
    ("image/jpeg", "门头.jpg", s.HEIC, "image/heic", "looks like a HEIC image"),
    ("image/jpeg", "page.jpg", b"<!DOCTYPE html><script>x</script>", "text/html", "HTML page"),
    (media.DOCX, "记录.docx", OLE, "application/x-ole-storage", "old Office document"),
    ("audio/mpeg", "录音.mp3", s.JPEG, "image/jpeg", "looks like a JPEG image"),
    ("video/mp4", "现场.mp4", b"\0" * 300, "", "no kind of file shuangsui recognises"),
    ("text/plain", "说明.txt", "检查记录".encode("gbk"), "", "is not UTF-8 text"),
    ("application/zip", "资料.zip", b"PK\x03", "text/plain", "looks like UTF-8 text"),
]


@pytest.mark.parametrize(
    ("declared", "name", "data", "found", "said"), REFUSED, ids=[x[1] for x in REFUSED]
)
def test_bytes_not_of_the_declared_type_are_refused_and_nothing_is_stored(
    engine: sa.Engine,
    tmp_path: Path,
    declared: str,
    name: str,
    data: bytes,
    found: str,
    said: str,
) -> None:
    with pytest.raises(evidence.EvidenceMismatch) as refused:
        evidence.store_bytes(engine, tmp_path, data, media_type=declared, filename=name)
    assert (refused.value.declared, refused.value.found) == (declared, found)
    message = str(refused.value)
    assert f"'{name}' is declared as {declared}" in message and said in message, message
    assert _stored(engine, tmp_path) == ([], [])


def test_the_signature_is_judged_on_the_first_bytes_before_the_rest_is_read(
    tmp_path: Path,
) -> None:
    with evidence.EvidenceWriter(tmp_path, "image/png", FindingsSettings()) as writer:
        with pytest.raises(evidence.EvidenceMismatch, match="ZIP archive"):
            writer.write(s.ZIP[:4] + b"\0" * 65_532)  # the first chunk of many
        assert writer.size == 65_536
    assert list(evidence.evidence_dir(tmp_path).iterdir()) == []
    # the signature is all that is read of a type that has one: what follows is the file's own
    with evidence.EvidenceWriter(tmp_path, "image/png", FindingsSettings()) as writer:
        for chunk in (PNG[:3], PNG[3:], b"\xff" * 100_000):  # the head arrives in pieces
            writer.write(chunk)
        digest, stored = writer.finish()
    assert stored.name == digest and stored.stat().st_size == len(PNG) + 100_000


def test_text_is_read_as_utf8_all_through_even_split_between_chunks(tmp_path: Path) -> None:
    text = ("检查记录 " * 40_000).encode()
    with evidence.EvidenceWriter(tmp_path, "text/plain", FindingsSettings()) as writer:
        for start in range(0, len(text), 7):  # every multi-byte character cut somewhere
            writer.write(text[start : start + 7])
        writer.finish()
    gbk_late = b"a" * 200_000 + "记录".encode("gbk")
    with evidence.EvidenceWriter(tmp_path, "text/plain", FindingsSettings()) as writer:
        writer.write(gbk_late[:100_000])
        with pytest.raises(evidence.EvidenceMismatch, match="not UTF-8") as refused:
            writer.write(gbk_late[100_000:])
    assert refused.value.found == ""  # it began as text
    with evidence.EvidenceWriter(tmp_path, "text/plain", FindingsSettings()) as writer:
        writer.write("记".encode()[:2])  # cut in the middle of its only character
        with pytest.raises(evidence.EvidenceMismatch, match="not UTF-8"):
            writer.finish()
    assert [p.name for p in evidence.evidence_dir(tmp_path).iterdir()] == [
        hashlib.sha256(text).hexdigest()
    ]


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        ("audio/mpeg", s.MP3_FRAME),  # an MP3 without an ID3 tag: the frame sync
        ("audio/mpeg", b"\xff\xf1\x50\x80" + b"\0" * 8),  # 0xFFF: an ADTS frame
        ("application/zip", s.EMPTY_ZIP),
        (media.DOCX, s.EMPTY_ZIP),
        ("video/mp4", s.HEIC),  # for MP4, any ftyp box
        ("image/heif", s.HEIC),
        ("image/heic", s.HEIF),  # mif1: the brand of any HEIF image
        ("application/zip", b"PK\x03\x04"),  # a file as short as its signature
    ],
)
def test_signatures_at_their_edges(tmp_path: Path, declared: str, data: bytes) -> None:
    with evidence.EvidenceWriter(tmp_path, declared, FindingsSettings()) as writer:
        writer.write(data)
        writer.finish()


def test_an_alias_a_browser_sends_is_stored_by_its_usual_name(tmp_path: Path) -> None:
    writer = evidence.EvidenceWriter(
        tmp_path, "application/x-zip-compressed", FindingsSettings()
    )  # what Chromium on Windows declares a .zip as
    with writer:
        writer.write(s.ZIP)
        writer.finish()
    assert writer.media_type == "application/zip"


@pytest.mark.parametrize(
    ("name", "fallback", "named"),
    [
        ("整改通知书.pdf", "_____.pdf", "整改通知书.pdf"),
        ('a"b.pdf', "a_b.pdf", 'a"b.pdf'),
        ("a\r\nSet-Cookie: x=1.pdf", "a__Set-Cookie: x=1.pdf", "a__Set-Cookie: x=1.pdf"),
        ("..\\..\\etc/passwd", ".._.._etc_passwd", ".._.._etc_passwd"),
        ("50%;x=y.txt", "50__x=y.txt", "50%;x=y.txt"),
    ],
)
def test_a_file_name_is_sent_back_encoded_never_as_itself(
    name: str, fallback: str, named: str
) -> None:
    """An ASCII stand-in for old clients, then the name as UTF-8 (RFC 8187): no quote, CR or
    LF of a name ever reaches the header as itself."""
    value = media.disposition("attachment", name)
    assert value.isascii() and not any(c in value for c in "\r\n\0")
    head, star = value.split("; filename*=UTF-8''")
    assert head == f'attachment; filename="{fallback}"'
    assert unquote(star) == named and not set(star) & set('"; ')
