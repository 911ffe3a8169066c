"""Two verification bundles written into one folder at once (the command run twice): both
end without error and the folder holds the bundle, whole, with no temporary file left.

The interleaving is forced: the first run is held with a file written to its temporary file
and not yet renamed into place, and is let go only once the second has reached the folder
(its writer lock, or, without one, its clearing of what it takes for a killed run's files)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rounds import bundle
from shuangsui import files
from tests.crash.test_kill_publish import _leftovers, _tree
from tests.findings.factories import ROUND, drawn_round

SECOND = "second-bundle"


def test_a_bundle_started_while_another_writes_the_folder_waits_its_turn(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn_round(engine)
    out = tmp_path / "bundle"
    held, go_on, reached = threading.Event(), threading.Event(), threading.Event()
    real_kill_point, real_flock = files.kill_point, files.fcntl.flock
    real_remove = bundle.remove_leftovers

    def hold_the_first(name: str, detail: str = "") -> None:
        if threading.current_thread().name != SECOND and name == "before-rename":
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
    monkeypatch.setattr(bundle, "remove_leftovers", remove_leftovers)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            bundle.bundle_round(engine, ROUND, out)
        except BaseException as exc:  # the test reports it
            failed.append(exc)

    first = threading.Thread(target=run)
    first.start()
    try:
        assert held.wait(120), f"the first run never wrote a file: {failed}"
        second = threading.Thread(target=run, name=SECOND)
        second.start()
        assert reached.wait(60), "the second run never reached the folder"
    finally:
        go_on.set()
        first.join(300)
    second.join(300)
    assert failed == []

    assert _leftovers(out) == []
    clean = tmp_path / "clean"
    bundle.bundle_round(engine, ROUND, clean)
    assert _tree(out) == _tree(clean)
    assert bundle.run_verify_script(out).returncode == 0
