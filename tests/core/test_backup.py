"""``shuangsui db backup DEST``: a copy of the data directory that restores, taken while
shuangsui writes. docs/operations.md said only "back up the application database and
$SHUANGSUI_HOME together"; a SQLite database copied as a file while the audit log was being
appended to (`cp -a` of the data directory, six times) gave four copies that failed
``PRAGMA integrity_check`` (rows missing from the indexes, rowids out of order) while
``round audit`` still said "chain ok"."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from rounds import audit
from shuangsui.backup import backup
from shuangsui.config import get_settings
from shuangsui.errors import UserError


@dataclass(frozen=True)
class BackupProbe:
    """An audit event of the test's own, written while the backup runs."""

    n: int
    pad: str


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine) -> Path:
    """A data directory holding a key, an evidence file and a leftover of a killed write."""
    home = tmp_path / "data"
    (home / "keys").mkdir(parents=True)
    (home / "keys" / "shuangsui.350000.ed25519.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----")
    (home / "evidence").mkdir()
    (home / "evidence" / ("a" * 64)).write_bytes(b"photo")
    (home / "keys" / ".tmp-shuangsui-x1y2").write_bytes(b"half")
    monkeypatch.setenv("SHUANGSUI_HOME", str(home))
    get_settings.cache_clear()
    return home


def _appending(engine: sa.Engine, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        n = 0
        while not stop.is_set():
            audit.append(engine, None, BackupProbe(n, "x" * 2000))
            n += 1

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _chain(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with Session(engine) as session:
            return audit.verify_chain(audit.load_chain(session))
    finally:
        engine.dispose()


def test_a_backup_taken_while_shuangsui_writes_restores(
    home: Path, engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    audit.append(engine, None, BackupProbe(-1, "before"))
    stop = threading.Event()
    writer = _appending(engine, stop)
    try:
        reports = [backup(get_settings(), tmp_path / f"backup-{i}") for i in range(3)]
    finally:
        stop.set()
        writer.join()
    for i, report in enumerate(reports):
        dest = tmp_path / f"backup-{i}"
        assert (dest / "keys" / "shuangsui.350000.ed25519.pem").read_bytes().startswith(b"---")
        assert (dest / "evidence" / ("a" * 64)).read_bytes() == b"photo"
        assert not list(dest.rglob(".tmp-shuangsui-*"))  # a killed write's leftover stays out
        if db_url.startswith("sqlite"):
            copy = dest / "shuangsui.db"
            assert report.database == copy and not report.dump_needed
            assert not (dest / "shuangsui.db-wal").exists()  # one file, whole
            with sqlite3.connect(copy) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert _chain(f"sqlite:///{copy}") >= 1
        else:
            assert report.database is None and report.dump_needed
            assert not (dest / "shuangsui.db").exists()


def test_a_backup_goes_into_a_new_folder_outside_the_data_directory(
    home: Path, tmp_path: Path
) -> None:
    with pytest.raises(UserError, match="inside the data directory"):
        backup(get_settings(), home / "backups" / "today")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "old.txt").write_text("an older backup")
    with pytest.raises(UserError, match="not empty"):
        backup(get_settings(), tmp_path / "used")
