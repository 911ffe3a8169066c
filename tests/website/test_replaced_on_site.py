"""A member replaced after the draw (docs/draw-algorithm.md §14) reaches the public record: the
next publish, incremental, writes the round's bundle with ``replacements.json``, which its own
verify.py replays, and the round's page says how many were replaced and why; the same files as
a publish from scratch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from rounds.replacements import replace_member
from tests.findings.factories import ROUND, drawn_round
from website.site import publish


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_a_replacement_is_published_and_verifies(engine: sa.Engine, tmp_path: Path) -> None:
    drawn = drawn_round(engine)
    site = tmp_path / "site"
    publish(engine, site)
    bundle = site / "rounds" / ROUND / "bundle"
    assert not (bundle / "replacements.json").exists()
    code = sorted(drawn)[0]
    replace_member(engine, ROUND, code, drawn[code][0], cause="conflict",
                   note="其亲属在该企业任职", recorded_by="李协调")  # fmt: skip
    publish(engine, site)
    assert "replacements.json" in (bundle / "MANIFEST.sha256").read_text()
    proc = subprocess.run([sys.executable, "-I", "-S", "verify.py", "."], cwd=bundle,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "replacements: 1 ok" in proc.stdout
    page = (site / "rounds" / ROUND / "index.html").read_text(encoding="utf-8")
    assert "检查组成员共更换 1 人次（回避 1 人次；" in page
    assert 'href="bundle/replacements.json"' in page
    assert "其亲属在该企业任职" not in page + (bundle / "replacements.json").read_text()
    fresh = tmp_path / "fresh"
    publish(engine, fresh)
    mine, theirs = _files(site / "rounds" / ROUND), _files(fresh / "rounds" / ROUND)
    assert mine.keys() == theirs.keys()
    assert [k for k in mine if mine[k] != theirs[k]] == []
