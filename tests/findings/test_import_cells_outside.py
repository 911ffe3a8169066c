"""A findings file's cell past the header is refused, not dropped: the rest of a description
after an unquoted comma (``现场核查,证书有效``) was imported as ``现场核查``, and a note written
beside the table was lost, both without a word. The registry's and the leads' imports refuse
such a cell already. Both databases; the import page says it in Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from findings import service
from findings.importer import import_findings
from shuangsui.errors import ImportRejected, RowProblem
from tests.findings.factories import ROUND, drawn_round
from workspace.import_reasons import in_chinese


def test_a_cell_past_the_header_is_refused_naming_its_column(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = drawn_round(engine)
    (a, ta), (b, tb) = sorted(teams.items())[:2]
    path = tmp_path / "findings.csv"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,签字人员,情况说明\n"
        + f"{ROUND},{a},未发现问题,2026-12-10,{';'.join(ta)},现场核查证书与产品一致\n"
        + f"{ROUND},{b},未发现问题,2026-12-10,{';'.join(tb)},现场核查,证书有效\n"
        + f"{ROUND},{a},,,,,\n",  # empty cells past the header are no content
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as info:
        import_findings(engine, path, imported_by="王五")
    assert [str(p) for p in info.value.problems] == [f"{path}:3: column 7: cell outside the header"]
    assert service.count_versions(engine) == 0
    said = in_chinese(RowProblem(str(path), 3, "column 7", "cell outside the header"))
    assert said.column == "第 7 列" and said.reason.startswith("表头以外的一格有内容")
