"""A writer that finds its folder's writer lock held (``shuangsui.files.writer_lock``: publish,
bundles, notices, proofs, exports) waits its turn, and says so once, naming the folder: a
command that waits without a word looks hung.

The end-to-end test holds a site folder's lock in this process while a real ``shuangsui
publish`` process starts: the process says on stderr, once, which folder it waits for and
that another run holds it, writes nothing meanwhile, and publishes once the lock is let go."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from shuangsui import files
from tests.deploy.procs import REPO_ROOT, clean_env
from tests.findings.factories import drawn_round

WAITING = "another run is writing it (it holds the folder's writer lock); waiting for it to end"


def _said(directory: Path) -> str:
    return f"folder {directory}: {WAITING}"


class Stderr(threading.Thread):
    """A process's stderr read line by line as it comes; ``waiting`` is set at the line that
    says the process waits."""

    def __init__(self, process: subprocess.Popen[str], line: str) -> None:
        super().__init__(daemon=True)
        self.process, self.line = process, line
        self.lines: list[str] = []
        self.waiting = threading.Event()

    def run(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if self.line in line:
                self.waiting.set()


@pytest.mark.slow
def test_a_publish_into_a_folder_another_run_holds_says_so_once_then_publishes(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    drawn_round(engine)
    site = tmp_path / "site"
    env = clean_env(
        SHUANGSUI_DATABASE_URL=db_url,
        SHUANGSUI_HOME=str(tmp_path / "home"),
        SHUANGSUI_ENVIRONMENT="test",
    )
    site.mkdir()
    with files.file_lock(site):  # the other run, mid-publish
        process = subprocess.Popen(
            [sys.executable, "-m", "shuangsui", "publish", "--out", str(site)],
            cwd=REPO_ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        stderr = Stderr(process, _said(site))
        stderr.start()
        try:
            assert stderr.waiting.wait(120), f"the publish never said it waits: {stderr.lines}"
            assert process.poll() is None, "the publish ended while the folder was held"
            assert list(site.iterdir()) == [], "the publish wrote while the folder was held"
        except BaseException:
            process.kill()
            raise
    out, _ = process.communicate(timeout=300)
    stderr.join(30)

    assert process.returncode == 0, "".join(stderr.lines)
    told = [line for line in stderr.lines if WAITING in line]
    assert len(told) == 1, stderr.lines
    assert _said(site) in told[0] and "WARNING" in told[0]
    assert "1 round(s)" in out and (site / "index.html").is_file()


def _second_writer(directory: Path, **kw: object) -> tuple[threading.Thread, threading.Event]:
    """A writer of ``directory``, started while this thread holds its lock; ``done`` is set
    once it is in."""
    done = threading.Event()

    def write() -> None:
        with files.writer_lock(directory, **kw):  # type: ignore[arg-type]
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    return thread, done


def test_the_writer_lock_warns_once_naming_the_folder_only_when_it_has_to_wait(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bundle"
    caplog.set_level(logging.WARNING, logger="shuangsui.files")
    waiting, real_waiting = threading.Event(), files._waiting_for

    def told(directory: Path) -> None:
        real_waiting(directory)
        waiting.set()

    monkeypatch.setattr(files, "_waiting_for", told)
    with files.writer_lock(folder):  # nobody else holds it: not a word
        pass
    assert caplog.records == []

    with files.writer_lock(folder):
        thread, done = _second_writer(folder)
        assert waiting.wait(30), "the second writer never said it waits"
        assert not done.is_set()
    thread.join(30)
    assert done.is_set()
    assert [r.getMessage() for r in caplog.records] == [_said(folder)]
    assert caplog.records[0].name == "shuangsui.files"
    assert caplog.records[0].levelno == logging.WARNING


def test_a_writer_given_its_own_way_of_telling_uses_it_instead_of_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "out"
    told, waiting = [], threading.Event()
    caplog.set_level(logging.WARNING, logger="shuangsui.files")

    def on_wait() -> None:
        told.append("waiting")
        waiting.set()

    with files.writer_lock(folder):
        thread, done = _second_writer(folder, on_wait=on_wait)
        assert waiting.wait(30), "the second writer never said it waits"
        assert not done.is_set()
    thread.join(30)
    assert done.is_set() and told == ["waiting"] and caplog.records == []
