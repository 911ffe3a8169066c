"""Evidence files, content-addressed: ``$SHUANGSUI_HOME/evidence/<sha256>``.

A file is streamed to a temporary name while it is hashed and measured, refused as soon as it
passes the size limit or its bytes show it is not of the type it was declared as (its first
bytes against the type's signature, :mod:`findings.media`; text as UTF-8 all through), then
flushed to disk (fsync), renamed to its digest (the same bytes uploaded twice are one file) and
the folder synced: the file is durable before its row (:func:`record`) is committed, so a power
cut never leaves a row naming a missing file. A refused file leaves nothing behind.

An upload through an inspector's link is checked again in the transaction of its row
(``allowed``: ``api.inspector_tokens.still_open``). Refused there, it records no row; its file,
already stored, stays as a file a crash before the row would leave: nothing names it (a version
may cite only evidence with a row, ``findings.service.reference_problems``, and nothing serves
a file without one). It is not removed, since it is stored by its digest: the same bytes
uploaded by someone else at the same time are that very file, and their row may be committing.

Each upload links its file to the assignment (round, enterprise) it came in through, in the
transaction of its row (:class:`findings.models.EvidenceLink`; the same bytes uploaded for two
assignments: one file, one row, two links). A version cites, and an assignment's pages serve,
only the files linked to that assignment (:func:`linked`): a digest is no key to a file.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from findings import media
from findings.models import Evidence, EvidenceLink, Finding, FindingVersion
from findings.settings import FindingsSettings
from shuangsui import writes
from shuangsui.errors import UserError
from shuangsui.files import fsync_dir
from shuangsui.paths import inside

logger = logging.getLogger(__name__)


class EvidenceTooLarge(UserError):
    def __init__(self, limit: int):
        super().__init__(
            f"evidence is larger than {limit} bytes (SHUANGSUI_EVIDENCE_MAX_BYTES); "
            "split it or compress it"
        )
        self.limit = limit


class EvidenceTypeRefused(UserError):
    def __init__(self, declared: str, allowed: set[str]):
        listed = ", ".join(sorted(allowed))
        super().__init__(f"evidence of type {declared or 'unknown'} is not accepted ({listed})")
        self.declared, self.allowed = declared, allowed


class EvidenceEmpty(UserError):
    def __init__(self) -> None:
        super().__init__("evidence file is empty")


class EvidenceMismatch(UserError):
    """The bytes are not of the declared type: ``found`` is what they look like ("" unknown)."""

    def __init__(self, filename: str, declared: str, found: str):
        named = f"'{filename}'" if filename else "the file"
        if declared == "text/plain":
            said = "is not UTF-8 text (save it as UTF-8, or send it as a PDF)"
        else:
            said = f"looks like {media.kind_of(found).name}"
        super().__init__(
            f"{named} is declared as {declared} ({media.kind_of(declared).name}) but {said}; "
            "nothing was stored"
        )
        self.filename, self.declared, self.found = filename, declared, found


class EvidenceNameRefused(UserError):
    """A name that is no file's (:func:`name_problem`): nothing was stored."""

    def __init__(self, filename: str, reason: str):
        super().__init__(reason)
        self.filename = filename


def name_problem(filename: str) -> str | None:
    """Why ``filename`` cannot name an evidence file, or None. A name of dots and spaces alone
    (``.``, ``..``) names a folder, not a file: served back as ``filename=".."``, a browser
    or a download tool saving it could write into the folder above. No name (``""``) is
    fine: the file is then named by its digest."""
    if filename and not filename.strip(". "):
        return (
            f"{filename!r} is not a file name: dots and spaces only name a folder; rename the file"
        )
    return None


def evidence_dir(home: Path) -> Path:
    return home / "evidence"


class EvidenceWriter:
    """Feed chunks, then :meth:`finish`; :meth:`abort` removes the partial file. Used as a
    context manager, any way out before :meth:`finish` (a refusal, the client gone, a
    cancelled request) removes it too."""

    _finished = False

    def __init__(
        self, home: Path, media_type: str, settings: FindingsSettings, *, filename: str = ""
    ):
        if problem := name_problem(filename):
            raise EvidenceNameRefused(filename, problem)
        declared = media.normalise(media_type)
        if declared not in settings.media_types:
            raise EvidenceTypeRefused(declared, settings.media_types)
        self.media_type = declared
        self.filename = filename
        self._head = b""  # the first media.HEAD bytes, until they are checked
        self._text = codecs.getincrementaldecoder("utf-8")() if declared == "text/plain" else None
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
            raise EvidenceTooLarge(self.limit)
        self._check(chunk)
        self._hash.update(chunk)
        self._fh.write(chunk)

    def _check(self, chunk: bytes, *, last: bool = False) -> None:
        """Refuse as soon as the bytes cannot be of the declared type: the signature once the
        first ``media.HEAD`` bytes are in (or the whole of a shorter file), text as it comes."""
        if len(self._head) < media.HEAD:
            self._head += chunk[: media.HEAD - len(self._head)]
            if (len(self._head) == media.HEAD or last) and not media.fits(
                self.media_type, self._head
            ):
                self._refuse()
        if self._text is not None:
            try:
                self._text.decode(chunk, final=last)
            except UnicodeDecodeError:
                self._refuse()

    def _refuse(self) -> None:
        self.abort()
        found = media.sniff(self._head)
        if self.media_type == "text/plain" and found == "text/plain":
            found = ""  # text at first, but not UTF-8 further on
        raise EvidenceMismatch(self.filename, self.media_type, found)

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
        if self.size == 0:
            self.abort()
            raise EvidenceEmpty()
        self._check(b"", last=True)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
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
    engine: Engine,
    *,
    sha256: str,
    size: int,
    media_type: str,
    filename: str,
    uploaded_by: str,
    round_key: str | None,
    credit_code: str = "",
    allowed: Callable[[Session], None] | None = None,
) -> Evidence:
    """The evidence row for a stored file (the first upload's row when it already exists),
    and its link to the assignment (``round_key``, ``credit_code``) it was uploaded for, in
    one transaction (None: no assignment, a file no version may cite). ``allowed`` runs first
    in it (:func:`shuangsui.writes.write`): whether the uploader may still upload; it raises
    to refuse, and neither is written."""
    now = datetime.now(UTC)

    def work(session: Session) -> tuple[Evidence, bool]:
        row = session.get(Evidence, sha256)
        new = row is None
        if row is None:
            row = Evidence(
                sha256=sha256,
                size=size,
                media_type=media_type,
                filename=filename,
                uploaded_by=uploaded_by,
                stored_at=now,
            )
            session.add(row)
            session.flush()  # a concurrent first upload of the same bytes fails here: again
        if round_key is not None and not session.get(
            EvidenceLink, (round_key, credit_code, sha256)
        ):
            session.add(
                EvidenceLink(
                    round_key=round_key,
                    credit_code=credit_code,
                    sha256=sha256,
                    uploaded_by=uploaded_by,
                    linked_at=now,
                )
            )
            session.flush()  # the same, for the same bytes at once for one assignment
        return row, new

    row, new = writes.write(engine, work, what=f"evidence {sha256[:12]}", allowed=allowed)
    if new:
        logger.info(
            "evidence %s (%d bytes, %s) from %s", sha256[:12], size, media_type, uploaded_by
        )
    return row


def store_bytes(
    engine: Engine,
    home: Path,
    data: bytes,
    *,
    media_type: str,
    filename: str = "",
    uploaded_by: str = "",
    round_key: str | None = None,
    credit_code: str = "",
    settings: FindingsSettings | None = None,
) -> Evidence:
    """Store ``data`` and record it (:func:`record`), for the assignment when one is given."""
    settings = settings or FindingsSettings()
    with EvidenceWriter(home, media_type, settings, filename=filename) as writer:
        writer.write(data)
        digest, _ = writer.finish()
    return record(
        engine,
        sha256=digest,
        size=writer.size,
        media_type=writer.media_type,
        filename=filename,
        uploaded_by=uploaded_by,
        round_key=round_key,
        credit_code=credit_code,
    )


def linked(session: Session, round_key: str, credit_code: str, sha256s: Iterable[str]) -> set[str]:
    """Which of ``sha256s`` were uploaded for the assignment (``round_key``, ``credit_code``):
    the files its versions may cite and its pages may serve."""
    wanted = sorted(set(sha256s))
    if not wanted:
        return set()
    found = session.exec(
        select(EvidenceLink.sha256).where(
            col(EvidenceLink.round_key) == round_key,
            col(EvidenceLink.credit_code) == credit_code,
            col(EvidenceLink.sha256).in_(wanted),
        )
    )
    return set(found)


class Servable(set[str]):
    """The files a page may serve (:func:`servable`), each with the name its assignment gave
    it (``names``; "" for none of its own: served under a generic one)."""

    def __init__(self, sha256s: Iterable[str] = (), names: dict[str, str] | None = None) -> None:
        super().__init__(sha256s)
        self.names = names or {}


def servable(
    engine: Engine, round_key: str, credit_code: str, sha256: str, named: set[str]
) -> Servable:
    """``named`` (the files a page shows) kept to those uploaded for its assignment, as far as
    ``sha256``, the file asked for, is concerned: what the page may serve, and under which
    name (:func:`own_name`)."""
    if sha256 not in named:
        return Servable()
    with Session(engine) as session:
        if not linked(session, round_key, credit_code, [sha256]):
            return Servable()
        return Servable([sha256], {sha256: own_name(session, round_key, credit_code, sha256)})


def own_name(session: Session, round_key: str, credit_code: str, sha256: str) -> str:
    """The name the assignment gave the file ``sha256``: the one its latest version citing it
    gives, else the stored row's (the first upload's) when no other assignment's upload is
    linked to the file, else "" (a generic name). The same bytes uploaded for two assignments
    are one row, named by whichever came first: another team's name (an enterprise's, a
    case's) is never sent on this assignment's pages."""
    cited = session.exec(
        select(FindingVersion.evidence)
        .join(Finding, col(Finding.id) == col(FindingVersion.finding_id))
        .where(col(Finding.round_key) == round_key, col(Finding.credit_code) == credit_code)
        .order_by(col(FindingVersion.version).desc())
    )
    for refs in cited:
        for ref in refs:
            if ref.get("sha256") == sha256 and ref.get("filename"):
                return str(ref["filename"])
    others = session.exec(
        select(EvidenceLink.round_key).where(
            col(EvidenceLink.sha256) == sha256,
            (col(EvidenceLink.round_key) != round_key)
            | (col(EvidenceLink.credit_code) != credit_code),
        )
    ).first()
    row = session.get(Evidence, sha256)
    return row.filename if others is None and row is not None else ""


def served_headers(
    row: Evidence, *, inline_images: bool, name: str | None = None
) -> dict[str, str]:
    """Headers for sending a stored file back, so no upload is ever taken for a page: the
    declared type is final (``nosniff``), nothing in it runs (a sandbox with no sources), and
    every file but an image a browser shows (``media.INLINE``, when ``inline_images``) comes as
    an attachment under its name: ``name`` (an assignment's own, :func:`own_name`; "" none),
    else the row's."""
    headers = {
        "Cache-Control": "private",
        "X-Content-Type-Options": "nosniff",
        # inline style only: the browser's own viewer of an opened image centres it so
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    }
    if not (inline_images and row.media_type in media.INLINE):
        extension = next(iter(media.kind_of(row.media_type).extensions), "")
        name = (row.filename if name is None else name) or f"evidence-{row.sha256[:12]}{extension}"
        headers["Content-Disposition"] = media.disposition("attachment", name)
    return headers
