"""An inspector marked inactive in the registry can neither record nor sign a finding: the
API refuses their link (403), and the findings import refuses a row they sign, naming the row
and the inspector, nothing written (it recorded the signature, and the finding became final)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from findings import service
from findings.importer import import_file
from registry.models import Inspector, InspectorStatus
from shuangsui.errors import ImportRejected
from tests.findings.factories import ROUND, drawn_round
from workspace.import_reasons import in_chinese

HEADER = "轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"


def _retire(engine: sa.Engine, inspector_id: str) -> str:
    with Session(engine) as session:
        inspector = session.get(Inspector, inspector_id)
        assert inspector is not None
        inspector.status = InspectorStatus.inactive
        session.add(inspector)
        session.commit()
        return inspector.name


def test_a_retired_inspectors_signature_is_refused(engine: sa.Engine, tmp_path: Path) -> None:
    (a, ta), (b, tb) = sorted(drawn_round(engine).items())[:2]
    retired = ta[1]
    name = _retire(engine, retired)
    path = tmp_path / "findings.csv"
    path.write_text(
        HEADER
        + f"{ROUND},{b},未发现问题,2026-12-10,{';'.join(tb)}\n"
        + f"{ROUND},{a},未发现问题,2026-12-10,{ta[0]};{name}（{retired}）\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as info:
        import_file(engine, path, imported_by="王五")
    [problem] = [p for p in info.value.problems if retired in p.reason]
    assert (problem.row, problem.field) == (3, "signed_by")
    assert f"{name}（{retired}）" in problem.reason and "inactive" in problem.reason
    assert service.count_versions(engine) == 0  # nothing written, the good row neither
    # the round's import page says it in Chinese, naming the inspector
    zh = in_chinese(problem).reason
    assert retired in zh and "停用" in zh
    assert not re.search(r"[A-Za-z]{2,}", zh.replace(retired, ""))

    # without the retired inspector's signature the row is recorded, and is not final
    path.write_text(HEADER + f"{ROUND},{a},未发现问题,2026-12-10,{ta[0]}\n", encoding="utf-8")
    assert import_file(engine, path, imported_by="王五").new == 1
