"""``shuangsui.files.remove_leftovers`` deletes what a killed writer of the folder left and
nothing a person keeps there: ``publish --out`` into a folder that held a person's
``sub/.tmp-abcd1234`` deleted it (an earlier version's temporary name, and any program's)."""

from __future__ import annotations

from pathlib import Path

from shuangsui.files import TMP_PREFIX, remove_leftovers


def test_only_our_leftovers_go(tmp_path: Path) -> None:
    out = tmp_path / "site"
    (out / "data").mkdir(parents=True)
    (out / "sub").mkdir()
    ours = [out / f"{TMP_PREFIX}a1b2", out / "data" / f"{TMP_PREFIX}c3d4", out / ".tmp-k3j9x_a1"]
    theirs = [out / "sub" / ".tmp-abcd1234", out / "data" / ".tmp-wxyz0000", out / "notes.txt"]
    for path in ours + theirs:
        path.write_bytes(b"x")
    assert remove_leftovers(out) == len(ours)
    assert [p for p in ours if p.exists()] == []
    assert [p for p in theirs if p.exists()] == theirs
