"""``shuangsui db backup DEST``: a copy of the data directory that can be restored, taken while
shuangsui runs (docs/operations.md, "Backups").

A SQLite database copied as a file while a command writes it (the dispatcher every five
minutes, a publish, the workspace) is not a database: its pages and its write-ahead log are
copied at different moments. Of six ``cp -a`` copies of a data directory taken while the audit
log was being appended to, four failed ``PRAGMA integrity_check`` (rows missing from the
indexes, rowids out of order), and ``round audit`` still said "chain ok". So the database is
copied by SQLite's online backup API, from one read of it, into one file, and checked. The
other files of the data directory (keys, evidence, bundles, outbox) are each replaced whole by
their writers (``shuangsui.files``) and are copied as they are, without the temporary files of
a write under way. A PostgreSQL database is the server's to dump (``pg_dump``), at the same
time as this copy.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from shuangsui.config import Settings
from shuangsui.errors import IntegrityError, UserError
from shuangsui.files import TMP_PREFIX, kill_point

logger = logging.getLogger(__name__)

DATABASE = "shuangsui.db"  # the database's name in a data directory (``Settings``' default)


@dataclass(frozen=True)
class BackupReport:
    folder: Path
    files: int  # copied from the data directory, the database not counted
    database: Path | None  # the SQLite database's copy; None on PostgreSQL
    dump_needed: bool  # the database is on a server: dump it with pg_dump as well


def backup(settings: Settings, dest: Path) -> BackupReport:
    """Copy the data directory into the new folder ``dest``, the SQLite database by its online
    backup API and checked (a copy that fails the check is an :class:`IntegrityError`)."""
    home, dest = settings.home.resolve(), dest.resolve()
    if not home.is_dir():  # a mistyped or unset SHUANGSUI_HOME: keys, evidence, outbox left out
        named = os.environ.get("SHUANGSUI_HOME", "unset, so ./.shuangsui of the working directory")
        raise UserError(
            f"data directory {home} does not exist (SHUANGSUI_HOME is {named}): nothing of it "
            "to back up; set SHUANGSUI_HOME to the bureau's data directory"
        )
    if dest == home or home in dest.parents:
        raise UserError(f"{dest}: inside the data directory {home}; give a folder outside it")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest}: not empty; a backup goes into a new folder")
    database = _sqlite_path(settings.resolved_database_url)
    skipped = {database, *_companions(database)} if database else set()
    # written into a folder of its own beside ``dest`` and renamed to it once whole and
    # checked: a backup cut short (Ctrl-C, a full disk, a killed process) is no folder that
    # looks like a backup, and ``dest`` is still new for the next try
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.parent / f"{TMP_PREFIX}{dest.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # what a killed backup into ``dest`` left
    partial.mkdir()
    try:
        files = _copy_files(home, partial, skipped)
        if database is not None:
            _copy_database(database, partial / DATABASE)
        kill_point("backup", "before-rename")
        partial.rename(dest)  # onto ``dest`` when it is an empty folder
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    copy = dest / DATABASE if database is not None else None
    logger.info("backup of %s in %s: %d file(s), database %s", home, dest, files, copy)
    return BackupReport(dest, files, copy, dump_needed=database is None)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    return Path(parsed.database or "").resolve()


def _companions(database: Path) -> list[Path]:
    """The files SQLite keeps beside a database: copied with it or not at all."""
    return [database.with_name(database.name + end) for end in ("-wal", "-shm", "-journal")]


def _copy_files(home: Path, dest: Path, skipped: set[Path]) -> int:
    copied = 0
    for path in sorted(home.rglob("*")):
        if path in skipped or path.name.startswith(TMP_PREFIX) or path.is_symlink():
            continue
        target = dest / path.relative_to(home)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        elif path.is_file():
            shutil.copy2(path, target)
            copied += 1
    return copied


def _copy_database(database: Path, copy: Path) -> None:
    """SQLite's online backup: every page as of one moment, whatever writes meanwhile."""
    if not database.is_file():
        raise UserError(f"database {database} does not exist")
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
        try:
            source.backup(target)
            found = target.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:  # a page the check itself cannot read
            found = [(str(exc),)]
        else:
            if found == [("ok",)]:
                target.execute("PRAGMA journal_mode = DELETE")  # one file, nothing beside it
    if found != [("ok",)]:
        said = "; ".join(str(row[0]) for row in found[:3])
        raise IntegrityError(
            f"the backup's copy of {database} failed its check: {said}; the copy is page for "
            "page the database's, so the database itself is damaged: restore the data "
            'directory from an earlier backup (docs/operations.md, "Databases and upgrades")'
        )
