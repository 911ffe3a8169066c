"""Evidence files, content-addressed: ``$SHUANGSUI_HOME/evidence/<sha256>``.

A file is streamed to a temporary name while it is hashed and measured, refused as soon as it
passes the size limit, then flushed to disk (fsync), renamed to its digest (the same bytes
uploaded twice are one file) and the folder synced: the file is durable before its row
(:func:`record`) is committed, so a power cut never leaves a row naming a missing file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from findings.models import Evidence
from findings.settings import FindingsSettings
from shuangsui.errors import UserError
from shuangsui.files import fsync_dir
from shuangsui.paths import inside

logger = logging.getLogger(__name__)


class EvidenceTooLarge(UserError):
    pass


def evidence_dir(home: Path) -> Path:
    return home / "evidence"


class EvidenceWriter:
    """Feed chunks, then :meth:`finish`; :meth:`abort` removes the partial file. Used as a
    context manager, any way out before :meth:`finish` (a refusal, the client gone, a
    cancelled request) removes it too."""

    _finished = False

    def __init__(self, home: Path, media_type: str, settings: FindingsSettings):
        media = media_type.split(";", 1)[0].strip().lower()
        if media not in settings.media_types:
            allowed = ", ".join(sorted(settings.media_types))
            raise UserError(f"evidence of type {media or 'unknown'} is not accepted ({allowed})")
        self.media_type = media
        self.limit = settings.evidence_max_bytes
        self.dir = evidence_dir(home)
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.dir, prefix=".upload-")
        self._fh = os.fdopen(fd, "wb")
        self._tmp = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise EvidenceTooLarge(
                f"evidence is larger than {self.limit} bytes (SHUANGSUI_EVIDENCE_MAX_BYTES); "
                "split it or compress it"
            )
        self._hash.update(chunk)
        self._fh.write(chunk)

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> EvidenceWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._finished:  # the upload, or its renaming, ended early
            self.abort()

    def finish(self) -> tuple[str, Path]:
        """The digest and the stored file, on disk for good (fsync of the file and folder)."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        if self.size == 0:
            self._tmp.unlink(missing_ok=True)
            raise UserError("evidence file is empty")
        digest = self._hash.hexdigest()
        final = inside(self.dir, digest)
        if final.exists() and final.stat().st_size == self.size:
            self._tmp.unlink()
        else:  # new, or a file of other length (cut short by a crash): these bytes replace it
            os.replace(self._tmp, final)
            fsync_dir(self.dir)
        self._finished = True
        return digest, final


def record(
    engine: Engine, *, sha256: str, size: int, media_type: str, filename: str, uploaded_by: str
) -> Evidence:
    """The evidence row for a stored file (the first upload's row when it already exists)."""
    with Session(engine, expire_on_commit=False) as session:
        existing = session.get(Evidence, sha256)
        if existing is not None:
            return existing
        row = Evidence(
            sha256=sha256,
            size=size,
            media_type=media_type,
            filename=filename,
            uploaded_by=uploaded_by,
            stored_at=datetime.now(UTC),
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            found = session.get(Evidence, sha256)
            assert found is not None
            return found
    logger.info("evidence %s (%d bytes, %s) from %s", sha256[:12], size, media_type, uploaded_by)
    return row


def store_bytes(
    engine: Engine,
    home: Path,
    data: bytes,
    *,
    media_type: str,
    filename: str = "",
    uploaded_by: str = "",
    settings: FindingsSettings | None = None,
) -> Evidence:
    with EvidenceWriter(home, media_type, settings or FindingsSettings()) as writer:
        writer.write(data)
        digest, _ = writer.finish()
    return record(
        engine,
        sha256=digest,
        size=writer.size,
        media_type=writer.media_type,
        filename=filename,
        uploaded_by=uploaded_by,
    )
