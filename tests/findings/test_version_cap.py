"""A finding takes at most ``MAX_VERSIONS`` versions, whichever way they come (the API, the
findings import; the inspector's page: tests/workspace/test_inspector_probe.py): one client
posted 60 versions in 2.7 s, each a row, a history entry on every page and sign-off mails.
Refused at the cap with the reason, nothing written; sending the latest again still signs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from findings import service
from findings.importer import import_file
from shuangsui.errors import ImportRejected
from tests.findings.factories import ROUND, drawn_round, finding
from tests.findings.live import serve
from tests.workspace.helpers import bearer


def _to_the_cap(engine: sa.Engine, code: str, lead: str) -> None:
    for n in range(1, service.MAX_VERSIONS + 1):
        service.submit(engine, round_key=ROUND, credit_code=code,
                       data=finding(description=f"第 {n} 次", reason="" if n == 1 else f"更正 {n}"),
                       submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip


def test_a_finding_at_the_cap_takes_no_more_versions_from_any_path(
    engine: sa.Engine, tmp_path: Path
) -> None:
    code, team = sorted(drawn_round(engine).items())[0]
    lead, other = team[0], team[1]
    _to_the_cap(engine, code, lead)
    last = finding(
        description=f"第 {service.MAX_VERSIONS} 次", reason=f"更正 {service.MAX_VERSIONS}"
    )
    # the service itself
    with pytest.raises(service.VersionCapReached, match=f"has {service.MAX_VERSIONS} versions"):
        service.submit(engine, round_key=ROUND, credit_code=code,
                       data=finding(description="再一次", reason="循环"),
                       submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    # the API: a problem document
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        r = http.post(
            f"/findings/{ROUND}/{code}",
            headers=bearer(code, lead),
            json={**finding(description="API", reason="循环").model_dump(mode="json")},
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert (
            f"has {service.MAX_VERSIONS} versions, the most a finding may have"
            in r.json()["detail"]
        )
        # the latest sent again by the teammate: their signature, no version
        r = http.post(f"/findings/{ROUND}/{code}", headers=bearer(code, other),
                      json=last.model_dump(mode="json"))  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["version"] == service.MAX_VERSIONS
    # the findings import
    csv = tmp_path / "findings.csv"
    head = "轮次,统一社会信用代码,检查结果,检查日期,原因,签字人员\n"
    csv.write_text(
        f"{head}{ROUND},{code},未发现问题,2026-12-10,导入更正,{lead}\n", encoding="utf-8"
    )
    with pytest.raises(ImportRejected) as rejected:
        import_file(engine, csv, imported_by="李协调")
    [problem] = rejected.value.problems
    assert problem.field == "finding" and f"has {service.MAX_VERSIONS} versions" in problem.reason
    assert len(service.history(engine, ROUND, code).versions) == service.MAX_VERSIONS
