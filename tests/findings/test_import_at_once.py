"""Two imports of the same new findings at once: the second, which collides with the first on
a finding's key (PostgreSQL: at the flush, once the first commits), is run again from the
start and finds the rows recorded. Before, that collision at the flush escaped as a raw
``IntegrityError`` (a 500 on the workspace's page); only one at the commit was caught."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from findings import importer
from rounds import audit
from tests.findings.factories import ROUND, drawn_round
from tests.races import assert_blocked


def _versions(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("select count(*) from finding_version")).scalar_one())


def test_two_imports_of_the_same_rows_at_once_record_them_once(
    engine: sa.Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    teams = sorted(drawn_round(engine).items())[:3]
    path = tmp_path / "结果.csv"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"
        + "".join(f"{ROUND},{code},未发现问题,2026-12-10,{';'.join(team)}\n"
                  for code, team in teams),
        encoding="utf-8",
    )  # fmt: skip
    recorded, go = threading.Event(), threading.Event()
    real = audit.add_to

    def add_to(session: Any, round_key: str | None, event: object) -> Any:
        if isinstance(event, importer.FindingsImported) and not recorded.is_set():
            recorded.set()  # the first import's findings are flushed: held before its commit
            assert go.wait(60), "the test never let the first import go on"
        return real(session, round_key, event)

    monkeypatch.setattr(audit, "add_to", add_to)

    def run() -> importer.Imported:
        return importer.import_file(engine, path, imported_by="李协调", only_round=ROUND)

    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(run)
        try:
            assert recorded.wait(30), "the first import never reached its audit entry"
            other = pool.submit(run)
            if db_url.startswith("postgresql"):  # it waits on the first's findings' keys
                assert_blocked(engine, other, "the second import did not wait for the first")
        finally:
            go.set()
        done = sorted((f.new, f.recorded) for f in (one.result(60), other.result(60)))
    assert done == [(0, len(teams)), (len(teams), 0)]
    assert _versions(engine) == len(teams)
