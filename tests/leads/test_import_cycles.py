"""``leads import`` runs with the cyclic collector paused (``shuangsui.collector``), as every bulk
step does: what it left in a reference cycle would stay in memory until the next collection. A
file refused for its bad rows (a bad check character, a date that is none, a flag that is
neither 是 nor 否: each an error caught, each with its traceback), then a good one: no frame of
the import and no row of its file is garbage afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from leads.importer import import_leads
from registry.io import write_table
from shuangsui.errors import ImportRejected
from tests.garbage import garbage_of
from tests.leads.helpers import outside_code
from tests.leads.test_import import HEADER


def test_an_import_leaves_nothing_in_reference_cycles(engine: sa.Engine, tmp_path: Path) -> None:
    code = outside_code()
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    write_table(bad, HEADER, [
        ["投诉举报", code, "虚假认证", "2026-11-02", "", "是", "李某", "证书造假", "TS-1"],
        ["风险监测", code[:-1] + "0", "标志", "2026/11/03", "", "", "", "", "TS-2"],
        ["微博", code, "标志", "2026-11-04", "2026-11-01", "也许", "", "", "TS-3"],
        ["其他", code, "标志", "2026-13-01", "", "", "", "", ""],
    ])  # fmt: skip
    write_table(good, HEADER, [
        ["投诉举报", code, "虚假认证", "2026-11-02", "", "是", "李某", "证书造假", f"TS-{n}"]
        for n in range(1, 40)
    ])  # fmt: skip
    with garbage_of("/leads/") as left:
        with pytest.raises(ImportRejected):
            import_leads(engine, bad, imported_by="林科长")
        assert len(import_leads(engine, good, imported_by="林科长").ids) == 39
    assert left.frames == [] and left.rows == [], (left.frames[:5], len(left.rows))
