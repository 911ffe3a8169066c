"""Two ``registry export --all --out DIR`` into one folder at once, the second started after
the registry changed: both end without error and the folder holds the second's export, whole,
never a file of the first (the registry before the change) among the second's. The
interleaving is forced (``tests.writers.two_at_once``): the first is held before its
enterprises file is renamed into place."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry import export
from registry.importer import import_files
from tests.crash.test_kill_publish import _leftovers, _tree
from tests.writers import SECOND, two_at_once

from .helpers import enterprise_row, enterprises_file

ROWS = 20


def _import(engine: sa.Engine, path: Path) -> None:
    with Session(engine) as session:
        import_files(session=session, files=[("enterprises", path)])
        session.commit()


def _export(engine: sa.Engine, out: Path) -> None:
    with Session(engine) as session:
        export.export_all(session=session, out_dir=out)


def test_an_export_started_while_another_writes_the_folder_waits_its_turn(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _import(engine, enterprises_file(tmp_path / "a.csv", [enterprise_row(n) for n in range(ROWS)]))
    renamed = [enterprise_row(n, name=f"福州市鼓楼区改名{n}有限公司") for n in range(ROWS)]
    changed = enterprises_file(tmp_path / "b.csv", renamed)
    out = tmp_path / "export"

    def write() -> None:
        if threading.current_thread().name == SECOND:  # the registry changed meanwhile
            _import(engine, changed)
        _export(engine, out)

    failed = two_at_once(monkeypatch, write, clears=export, held_at="enterprises.csv")
    assert failed == []

    assert _leftovers(out) == []
    clean = tmp_path / "clean"
    _export(engine, clean)
    assert _tree(out) == _tree(clean)
    assert "福州市鼓楼区改名0有限公司" in (out / "enterprises.csv").read_text(encoding="utf-8-sig")
