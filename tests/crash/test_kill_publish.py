"""A publish killed (SIGKILL, at named points) and run again ends as a clean publish does:
the same files byte for byte, no partial file left, every result recorded once.

The kill comes from the test hook ``SHUANGSUI_TEST_KILL_AT`` (``shuangsui.files.kill_point``)
in a real ``shuangsui publish`` process."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from findings.models import PublishedResult
from shuangsui.files import TMP_PREFIX
from tests.findings.factories import drawn_round, final_finding
from tests.website.program import program_copy, publish_process
from website.site import MANIFEST, publish

pytestmark = pytest.mark.slow


def _publish(db_url: str, tmp_path: Path, out: Path, kill_at: str = "") -> int:
    """Every process of a test runs one copy of the program (tests/website/program.py)."""
    program = tmp_path / "program"
    if not program.exists():
        program_copy(program)
    return publish_process(program, db_url, tmp_path, out, kill_at)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".tmp-*")]


def _recorded(engine: sa.Engine) -> tuple[int, int]:
    with Session(engine) as s:
        rows = s.exec(select(func.count(), func.count(sa.distinct(PublishedResult.version_id))))
        total, distinct = rows.one()
    return int(total), int(distinct)


def _world(engine: sa.Engine, findings: int) -> dict[str, list[str]]:
    teams = drawn_round(engine)
    for code in sorted(teams)[:findings]:
        final_finding(engine, code, teams[code])
    return teams


@pytest.mark.parametrize(
    ("incremental", "kill_at"),
    [
        (False, f"mid-write:{MANIFEST}"),  # the manifest half written
        (True, f"mid-write:{MANIFEST}"),
        (False, "before-rename:index.html"),  # a page written, not yet renamed into place
        (True, "before-rename:results.csv"),
    ],
)
def test_a_killed_publish_reruns_to_the_clean_site(
    engine: sa.Engine, db_url: str, tmp_path: Path, incremental: bool, kill_at: str
) -> None:
    teams = _world(engine, findings=2)
    site = tmp_path / "site"
    if incremental:
        _publish(db_url, tmp_path, site)
        code = sorted(teams)[2]
        final_finding(engine, code, teams[code], result="other")
    before = _recorded(engine)

    status = _publish(db_url, tmp_path, site, kill_at=kill_at)
    assert status == -signal.SIGKILL
    assert _recorded(engine) == before  # killed before recording anything
    assert _leftovers(site), "the kill left no partial file: it came at the wrong point"

    _publish(db_url, tmp_path, site)
    clean = tmp_path / "clean"
    _publish(db_url, tmp_path, clean)
    assert _leftovers(site) == []
    assert _tree(site) == _tree(clean)
    total, distinct = _recorded(engine)
    assert total == distinct == 3 if incremental else total == distinct == 2


def test_an_unreadable_manifest_means_a_full_publish(
    engine: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What earlier versions left when killed: an empty or cut-off manifest, ``.tmp-*`` files."""
    _world(engine, findings=2)
    clean, site = tmp_path / "clean", tmp_path / "site"
    publish(engine, clean)
    for broken in (b"", b'{"files": {"index.html": ["ab', b"[1, 2]"):
        site.mkdir(exist_ok=True)
        (site / MANIFEST).write_bytes(broken)
        (site / ".tmp-k3j9x_a1").write_bytes(b"<html>cut off")  # an old version's name
        (site / "data").mkdir(exist_ok=True)
        (site / "data" / f"{TMP_PREFIX}x1y2z3").write_bytes(b"partial")
        (site / "data" / "operator-notes.txt").write_bytes(b"not ours")
        caplog.clear()
        report = publish(engine, site)
        assert f"{MANIFEST} is unreadable" in caplog.text
        assert len(report.written) == len(json.loads((clean / MANIFEST).read_bytes())["files"])
        assert _leftovers(site) == []
        assert (site / "data" / "operator-notes.txt").read_bytes() == b"not ours"
        (site / "data" / "operator-notes.txt").unlink()
        assert _tree(site) == _tree(clean)
