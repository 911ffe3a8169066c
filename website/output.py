"""The output folder of a publish: its files, the manifest that lists them, the state that
says which manifest a publish finished with, and the rounds' kept parts (website/parts.py).

``.manifest.json``: per file its SHA-256 and size; per round its content digest, its bundle's
stamp, and the fingerprint of its inputs with the SHA-256 of its part (``.parts/<key>.json``).
``.publish-state.json``, written last: the manifest's SHA-256, the whole site's fingerprint,
whether what it showed was recorded as published, how many results it showed, and the
largest ids of the finding tables its reads saw.

Each file is written atomically, its bytes synced before its rename (``shuangsui.files``);
the folders holding the renames are synced once each, before the manifest that lists the new
files is written (not once per file: a full publish of ten rounds writes 70 files into 14
folders). A power cut before then leaves each file old or new, and the previous manifest,
which the next publish checks them against.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shuangsui.errors import IntegrityError, UserError
from shuangsui.files import atomic_writer, fsync_dir, write_atomic
from shuangsui.paths import inside
from website import fragments
from website.fragments import Kept
from website.opendata import FileSlice, Piece
from website.parts import FOLDER, RoundPart, part_from_files, pieces_of, summary_of
from website.render import round_paths

logger = logging.getLogger(__name__)

MANIFEST = ".manifest.json"
STATE = ".publish-state.json"
READ_CHUNK = 1 << 18  # what a kept file is read by where the files spanning every round join it
# the folders a publish writes into and nothing else does (``Output.check_files``)
OWN_FOLDERS = ("rounds", "data", "static", FOLDER)


@dataclass
class PublishReport:
    out: Path
    rounds: int = 0
    results: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    newly_published: int = 0
    revealed: list[str] = field(default_factory=list)  # rounds whose list went public now
    reread: list[str] = field(default_factory=list)  # rounds read again (inputs changed)
    # of them, those whose findings added since were read alone (``website.inputs``)
    read_in_part: list[str] = field(default_factory=list)
    # the audit log's events, checked once before the publish's first bundle (None: no bundle)
    audit_events: int | None = None
    # ``check_files``: the files found missing or not as the manifest lists them (written
    # again), and the files in the site's own folders that no manifest lists (left, named)
    restored: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    # found changed and not written again (a commitment whose first bytes cannot be made
    # again, a bundle not published this time): still listed with the bytes first written
    unrestored: list[str] = field(default_factory=list)


class Output:
    def __init__(self, out: Path, *, check_kept: bool = True):
        """``check_kept``: read and check a kept round's data files when its part is taken
        (:meth:`part`), not only when they are joined into the files spanning every round;
        without it, a file found changed then raises ``KeptFileChanged``."""
        self.out = out
        self.check_kept = check_kept
        old = _read_manifest(out / MANIFEST)
        self.files: dict[str, list] = old.get("files", {})
        self.rounds: dict[str, str] = old.get("rounds", {})
        self.bundles: dict[str, str] = old.get("bundles", {})
        # round key -> the seed this site first showed its draw with: a round is drawn once
        self.draws: dict[str, str] = old.get("draws", {})
        # round key -> [fingerprint of its inputs, SHA-256 of its .parts file]
        self.parts: dict[str, list] = old.get("parts", {})
        self.state = _read_state(out, old)
        self.unsynced: set[Path] = set()  # folders with a rename not yet synced to disk
        # :meth:`check_files`: each file found not as listed, with its entry as it was listed
        self.was: dict[str, list] = {}

    def settle_changed(self, report: PublishReport) -> None:
        """After the writes: each file :meth:`check_files` found changed is either written
        again (``report.restored``) or listed again as it was (``report.unrestored``), so the
        manifest never forgets what was published."""
        for rel, entry in sorted(self.was.items()):
            if rel in self.files:
                report.restored.append(rel)
            else:
                self.files[rel] = entry
                report.unrestored.append(rel)

    def check_files(self) -> tuple[list[str], list[str]]:
        """Every file the manifest lists, read and hashed. Each one missing or whose bytes are
        not those listed is forgotten, so that this publish writes it again (a file of a
        round's bundle: the bundle is written again); those are returned first, then the
        files in the site's own folders (``OWN_FOLDERS``) that no manifest lists, which are
        left where they are: ``--out`` may hold a person's files, never in those folders."""
        changed = []
        for rel, (digest, _size) in sorted(self.files.items()):
            if _listed_digest(self.out, rel) != digest:
                changed.append(rel)
        for rel in changed:
            self.was[rel] = self.files.pop(rel)
            top, *rest = rel.split("/")
            if top == "rounds" and len(rest) > 2 and rest[1] == "bundle":
                self.bundles.pop(rest[0], None)
        listed = self.files.keys() | self.was.keys() | {part_file(key) for key in self.parts}
        unlisted = [
            rel
            for folder in OWN_FOLDERS
            for path in sorted((self.out / folder).rglob("*"))
            if path.is_file() and (rel := path.relative_to(self.out).as_posix()) not in listed
        ]
        return changed, unlisted

    def refuse_links(self, keys: Iterable[str]) -> None:
        """Refuse the publish, before anything is read from the site or written to it, if a
        folder it keeps (``OWN_FOLDERS``, a listed file's folders, rounds ``keys``' folders and
        bundles) is a symlink: a link to a folder outside the site made every publish fail
        with the path refusal meant for names from data, and one inside it would send one
        folder's files into another. The link and what it leads to are left as they are."""
        folders = {*OWN_FOLDERS, *(f"rounds/{key}/bundle" for key in keys)}
        folders.update(rel.rpartition("/")[0] for rel in self.files)
        for rel in sorted(filter(None, folders)):
            parts = rel.split("/")
            for depth in range(1, len(parts) + 1):
                path = self.out.joinpath(*parts[:depth])
                if path.is_symlink():
                    raise UserError(
                        f"{self.out.name}/{'/'.join(parts[:depth])}: a link (to "
                        f"{os.readlink(path)}) stands where the publish keeps a folder of its "
                        "own; nothing was published. Put a folder there in its place (remove "
                        "the link; the publish writes the folder's files again) and publish again"
                    )

    def has(self, rel: str) -> bool:
        return rel in self.files and (self.out / rel).is_file()

    def sized(self, rel: str) -> bool:
        """``rel`` is in place with the size the manifest lists."""
        try:
            return rel in self.files and (self.out / rel).stat().st_size == self.files[rel][1]
        except OSError:
            return False

    def finished(self, record: bool) -> bool:
        """The manifest is the one a publish finished with, having recorded what it showed
        (or this run records nothing either)."""
        return bool(self.state) and (self.state.get("recorded") is True or not record)

    def current(self, site_key: str, record: bool, extra: dict[str, bytes]) -> bool:
        """Nothing to publish: the site's inputs and the extra files are those of the
        finished publish, and every file it wrote is in place."""
        return (
            self.finished(record)
            and not self.was
            and self.state.get("inputs") == site_key
            and all(self.has(rel) for rel in self.files)
            and all(
                self.files.get(rel, [None])[0] == hashlib.sha256(data).hexdigest()
                for rel, data in extra.items()
            )
        )

    def digest(self, rel: str) -> str | None:
        """The SHA-256 the manifest lists for ``rel`` (None: not listed)."""
        return self.files.get(rel, [None])[0]

    def checked(self, rel: str, digest: str | None) -> bytes:
        """The bytes of ``rel`` if its SHA-256 is ``digest``; ``ValueError`` otherwise, and
        the manifest forgets the file, so that it is written again."""
        data = _regular_bytes(self.out, rel)
        if digest is None or hashlib.sha256(data).hexdigest() != digest:
            self.files.pop(rel, None)
            raise ValueError(f"{rel} is not the file the manifest lists")
        return data

    def forget_changed(self, *rels: str) -> None:
        """The manifest forgets each of ``rels`` whose bytes are not those it lists (or that is
        missing), so that it is written again even if its new bytes are the listed ones."""
        for rel in rels:
            try:
                self.checked(rel, self.digest(rel))
            except (OSError, ValueError):
                self.files.pop(rel, None)

    def part(self, key: str, fingerprint: str) -> RoundPart | None:
        """The round's part as the finished publish left it, if the round's inputs have not
        changed since and its files are as the manifest lists them.

        Checked here: the part file's SHA-256, and the sizes of the round's page and data
        files. The data files' SHA-256 are checked where their bytes are read, to be joined
        into the files spanning every round (:meth:`_read`), once per publish: a difference
        there raises ``KeptFileChanged`` and the publish starts again with ``check_kept``, so
        that the round is read again and its files written again. With ``check_kept`` (or a
        JSON file with no record, which nothing joins) they are read and checked here."""
        kept = self.parts.get(key)
        if kept is None or kept[0] != fingerprint:
            return None
        html, csv_rel, json_rel = round_paths(key)
        try:
            if not all(map(self.sized, (html, csv_rel, json_rel))):
                return None
            part = part_from_files(
                (json_rel, self.files[json_rel][1]),
                (csv_rel, self.files[csv_rel][1]),
                self.checked(part_file(key), kept[1]),
            )
            for rel in (json_rel, csv_rel):
                if self.check_kept or part.json_records == b"":
                    self.checked(rel, self.digest(rel))
            return part
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.parts.pop(key, None)
            logger.warning("round %s: its kept part is unusable (%s); reading it again", key, exc)
            return None

    def pieces(self, key: str, made_with: str) -> Kept | None:
        """The pieces of the round's results the last publish left in its files, if they
        were made with ``made_with`` (``website.fragments``) and the round's page, data files
        and part are the ones the manifest lists; None otherwise."""
        kept = self.parts.get(key)
        if kept is None:
            return None
        html, csv_rel, json_rel = round_paths(key)
        try:
            index = pieces_of(self.checked(part_file(key), kept[1]))
            if not index or index.get("made_with") != made_with:
                return None
            return fragments.kept(
                index,
                self.checked(json_rel, self.digest(json_rel)),
                self.checked(csv_rel, self.digest(csv_rel)),
                self.checked(html, self.digest(html)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("round %s: its pieces are unusable (%s); rendering it all", key, exc)
            return None

    def since(self, key: str) -> dict | None:
        """What the round's part says it was read at (:meth:`RoundPart.summary`), if the part
        is the one the manifest lists; None otherwise."""
        kept = self.parts.get(key)
        if kept is None:
            return None
        try:
            since = summary_of(self.checked(part_file(key), kept[1]))[0].get("since")
        except (OSError, ValueError) as exc:
            logger.warning("round %s: its part is unusable (%s); reading it all", key, exc)
            return None
        return since if isinstance(since, dict) else None

    def keep_part(self, key: str, fingerprint: str, part: RoundPart, since: dict) -> None:
        data = part.summary(since)
        target = self.out / part_file(key)
        digest = hashlib.sha256(data).hexdigest()
        if self.parts.get(key, [None, None])[1] != digest or not _regular(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data, sync_folder=False)
            self.unsynced.add(target.parent)
        self.parts[key] = [fingerprint, digest]

    def write(self, rel: str, data: bytes | list[Piece], report: PublishReport) -> None:
        """Write ``rel`` unless the manifest lists these bytes for it and it is in place.
        ``data`` may come in pieces (the files spanning every round), never joined: a piece
        that is a slice of another file of the site is read from it, checked against the
        manifest, and those bytes hashed and written as they pass, in one pass; the new file
        replaces ``rel`` only if its bytes are not the ones the manifest lists."""
        target = inside(self.out, rel)
        if target.is_dir():
            raise _folder_in_place(self.out, rel)
        if isinstance(data, bytes):
            digest = hashlib.sha256(data).hexdigest()
            written = not self._in_place(rel, digest, target)
            if written:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, data, sync_folder=False)
                self.unsynced.add(target.parent)
        else:
            digest, written = self._write_pieces(rel, target, data)
        if not written:
            report.unchanged += 1
            return
        self.files[rel] = [digest, len(data) if isinstance(data, bytes) else sum(map(len, data))]
        report.written.append(rel)

    def _write_pieces(self, rel: str, target: Path, pieces: list[Piece]) -> tuple[str, bool]:
        """``pieces`` read (slices checked), hashed and written to a new copy as they pass;
        the copy replaces ``rel`` unless its bytes are those in place. Their SHA-256, and
        whether the copy was put in place."""
        target.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        try:
            with atomic_writer(target, sync_folder=False) as fh:
                for piece in self._read(pieces):
                    h.update(piece)
                    fh.write(piece)
                if self._in_place(rel, h.hexdigest(), target):
                    raise _Unchanged  # the new copy is dropped, the file left as it is
        except _Unchanged:
            return h.hexdigest(), False
        self.unsynced.add(target.parent)
        return h.hexdigest(), True

    def _in_place(self, rel: str, digest: str, target: Path) -> bool:
        return self.digest(rel) == digest and target.is_file()

    def _read(self, pieces: list[Piece]) -> Iterator[bytes | memoryview]:
        """``pieces`` as bytes, each slice read from its file through one buffer (a piece
        given is valid until the next is asked for: the caller hashes and writes each as it
        comes), the whole file hashed as it passes and checked against the manifest at its
        end, before any later piece: a file not as listed raises, and the copy being written
        is never put in place. (Each file read into bytes of its own, 0.76 MB for a round's
        JSON file, allocated and let go each time, cost more: joining ten rounds' JSON files
        took 21.7 ms against 17.6 through one buffer, in a scratch timing.)"""
        buffer = memoryview(bytearray(READ_CHUNK))
        for piece in pieces:
            if not isinstance(piece, FileSlice):
                yield piece
                continue
            try:
                yield from self._checked_slice(piece, buffer)
            except (OSError, ValueError) as exc:
                if not self.check_kept:  # not checked before: the publish starts again
                    raise KeptFileChanged(str(exc)) from exc
                raise IntegrityError(
                    f"{piece.rel} changed while the site was being published ({exc}); publish again"
                ) from exc

    def _checked_slice(self, piece: FileSlice, buffer: memoryview) -> Iterator[memoryview]:
        """The bytes of ``piece``, read through ``buffer``; then, as :meth:`checked`, a
        ``ValueError`` if its file's SHA-256 is not the one the manifest lists (which forgets
        the file, so that it is written again)."""
        digest, at = hashlib.sha256(), 0
        with _regular_file(self.out, piece.rel) as fh:
            while n := fh.readinto(buffer):
                chunk = buffer[:n]
                digest.update(chunk)
                start, end = max(piece.start - at, 0), min(piece.end - at, n)
                if start < end:
                    yield chunk[start:end]
                at += n
        if digest.hexdigest() != self.digest(piece.rel):
            self.files.pop(piece.rel, None)
            raise ValueError(f"{piece.rel} is not the file the manifest lists")

    def remove(self, rel: str, report: PublishReport) -> None:
        inside(self.out, rel).unlink(missing_ok=True)
        self.files.pop(rel, None)
        report.removed.append(rel)

    def save(self) -> str:
        """Write the manifest, once every rename of this run is on disk."""
        for folder in sorted(self.unsynced):
            fsync_dir(folder)
        self.unsynced.clear()
        body = json.dumps(
            {
                "files": self.files,
                "rounds": self.rounds,
                "bundles": self.bundles,
                "draws": self.draws,
                "parts": self.parts,
            },
            sort_keys=True,
            indent=0,
        ).encode()
        write_atomic(self.out / MANIFEST, body)
        return hashlib.sha256(body).hexdigest()

    def finish(
        self, manifest: str, site_key: str, recorded: bool, results: int, findings: list | None
    ) -> None:
        """Written last: this manifest is a finished publish's. ``findings``: the largest ids
        of the finding tables its reads saw (``website.inputs.finding_marks``); each round's
        part says how many changes of its findings the log held then."""
        self.state = {"manifest": manifest, "inputs": site_key, "recorded": recorded,
                      "results": results, "findings": findings}  # fmt: skip
        write_atomic(self.out / STATE, json.dumps(self.state, sort_keys=True).encode())


class KeptFileChanged(Exception):
    """A kept file read to be joined into the files spanning every round, not checked before
    (``Output(check_kept=False)``), was not the one the manifest lists."""


def _listed_digest(out: Path, rel: str) -> str | None:
    """The SHA-256 of the regular file a manifest lists at ``rel``; None when nothing is there.
    What stands there and is not a regular file (a symlink, to a file outside the site or to
    ``/dev/zero``; a FIFO; a device) is never followed nor read, where reading a FIFO waited for
    ever: it is removed, so the publish writes the file in its place (None). A folder there is
    refused, naming it, before anything is written: it may hold a person's files."""
    path = _unfollowed(out, rel)
    try:
        fd = _open_unfollowed(path)
    except FileNotFoundError:
        return None
    except OSError:  # a symlink (ELOOP), or what cannot be opened for reading
        path.unlink(missing_ok=True)
        return None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise _folder_in_place(out, rel)
        path.unlink()
        return None
    with os.fdopen(fd, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _unfollowed(out: Path, rel: str) -> Path:
    """``rel`` in ``out``, its folder resolved and its own name not: a link there stays one."""
    folder = (out / rel).parent.resolve()
    if not folder.is_relative_to(out.resolve()):
        inside(out, rel)  # raises, naming ``rel``: the manifest names a file outside the site
    return folder / (out / rel).name


def _open_unfollowed(path: Path) -> int:
    """``path`` opened to read without following a link there (``ELOOP``) nor waiting on a
    FIFO: its descriptor, for the caller to check with ``fstat`` that it is a regular file."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)


def _regular_bytes(out: Path, rel: str) -> bytes:
    """The bytes of the regular file at ``rel``; ``OSError`` for anything else standing there
    (a symlink is not followed, a FIFO not waited on, ``/dev/zero`` not read for ever), which
    the caller takes as a file not the one the manifest lists: written again."""
    with _regular_file(out, rel) as fh:
        return fh.readall()


def _regular_file(out: Path, rel: str) -> io.FileIO:
    """The regular file at ``rel`` opened to read, unbuffered; ``OSError`` for anything else
    standing there, as :func:`_regular_bytes`."""
    fd = _open_unfollowed(_unfollowed(out, rel))
    fh = io.FileIO(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        fh.close()
        raise OSError(f"{rel} is not a regular file")
    return fh


def _regular(path: Path) -> bool:
    """A regular file stands at ``path`` itself (not a link to one)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _folder_in_place(out: Path, rel: str) -> UserError:
    return UserError(f"{out.name}/{rel}: a folder stands where the publish writes this file; "
                     "move it away and publish again")  # fmt: skip


class _Unchanged(Exception):
    """A file written again whose bytes are those already in place."""


def part_file(round_key: str) -> str:
    return f"{FOLDER}/{round_key}.json"


def _read_manifest(path: Path) -> dict:
    """The previous run's manifest; ``{}`` (a full publish) if absent, truncated or not ours."""
    if not path.is_file():
        return {}
    try:
        body = path.read_bytes()
        old = json.loads(body)
        kinds = ("files", "rounds", "bundles", "draws", "parts")
        if isinstance(old, dict) and all(isinstance(old.get(k, {}), dict) for k in kinds):
            old["digest"] = hashlib.sha256(body).hexdigest()
            return old
        problem = "not a shuangsui manifest"
    except (ValueError, OSError) as exc:
        problem = str(exc) or type(exc).__name__
    logger.warning("%s is unreadable (%s): publishing every file again", path, problem)
    return {}


def _read_state(out: Path, manifest: dict) -> dict:
    """The finished publish's state, if it vouches for this manifest and its values are of the
    kinds :meth:`Output.finish` writes; ``{}`` otherwise (a full publish). What is not a
    regular file there is not read (a FIFO waited for ever)."""
    try:
        state = json.loads(_regular_bytes(out, STATE))
    except (ValueError, OSError):
        return {}
    if not isinstance(state, dict) or state.get("manifest") != manifest.get("digest"):
        return {}
    tops = state.get("findings")
    if not _count(state.get("results", 0)) or not (
        tops is None or (isinstance(tops, list) and len(tops) == 2 and all(map(_count, tops)))
    ):
        logger.warning("%s holds what no publish wrote: publishing every file again", STATE)
        return {}
    return state


def _count(value: object) -> bool:
    return type(value) is int and value >= 0
