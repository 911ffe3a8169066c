"""Two writers of one output folder at once, the interleaving forced: the first is held with
a file written to its temporary file and not yet renamed into place (``shuangsui.files``'
``before-rename`` kill point), and let go only once the second has reached the folder (its
writer lock, or, without one, its clearing of what it takes for a killed run's files, or its
end). A writer without atomic writes cannot be held: the first ending unheld fails the test."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shuangsui import files

SECOND = "second-writer"


def two_at_once(
    monkeypatch: pytest.MonkeyPatch,
    write: Callable[[], object],
    *,
    clears: ModuleType,
    held_at: str | None = None,
) -> list[BaseException]:
    """Run ``write`` twice, the second started while the first is held before renaming a file
    (``held_at``: that file's name; any file when None); what either raised. ``clears``: the
    module whose ``remove_leftovers`` the writer calls (a writer without a lock may have none:
    then the second is let go on at its end)."""
    held, go_on, reached = threading.Event(), threading.Event(), threading.Event()
    ended = threading.Event()  # the first, unheld
    real_kill_point, real_flock = files.kill_point, files.fcntl.flock
    real_remove = getattr(clears, "remove_leftovers", files.remove_leftovers)

    def hold_the_first(name: str, detail: str = "") -> None:
        first = threading.current_thread().name != SECOND
        if first and name == "before-rename" and held_at in (None, detail):
            if not held.is_set():
                held.set()
                assert go_on.wait(120)
        real_kill_point(name, detail)

    def flock(fd: Any, operation: int) -> None:
        if threading.current_thread().name == SECOND:
            reached.set()
        real_flock(fd, operation)

    def remove_leftovers(directory: Path) -> int:
        removed = real_remove(directory)
        if threading.current_thread().name == SECOND:
            reached.set()
        return removed

    monkeypatch.setattr(files, "kill_point", hold_the_first)
    monkeypatch.setattr(files.fcntl, "flock", flock)
    monkeypatch.setattr(clears, "remove_leftovers", remove_leftovers, raising=False)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as exc:  # the test reports it
            failed.append(exc)
        finally:
            if threading.current_thread().name == SECOND:
                reached.set()
            elif not held.is_set():
                ended.set()
                held.set()

    first = threading.Thread(target=run)
    first.start()
    try:
        assert held.wait(120), f"the first writer never wrote a file: {failed}"
        assert not ended.is_set(), (
            "the first writer ended without renaming a file into place: "
            f"{failed or 'it writes its files in place, where others meet them half-written'}"
        )
        second = threading.Thread(target=run, name=SECOND)
        second.start()
        assert reached.wait(60), "the second writer never reached the folder"
    finally:
        go_on.set()
        first.join(300)
    second.join(300)
    return failed
