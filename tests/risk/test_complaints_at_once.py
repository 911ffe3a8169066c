"""Two imports of one complaints file at once (a scheduled import and a coordinator's): the one
held after its checks while the other imports the file ends with its complaints held, each
recorded once and each import audited. It raised the unique violation's ``IntegrityError`` (a
traceback from ``shuangsui risk complaints``): the complaints it read as new before the other
committed were inserted again. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from risk import complaints
from risk.models import RiskComplaint
from rounds import audit
from tests.races import held_while
from tests.rounds.factories import seed_registry


def test_the_second_of_two_imports_at_once_finds_the_complaints_held(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    path = tmp_path / "upheld.csv"
    path.write_text(
        f"credit_code,ref,upheld_on\n{code},TS-1,2026-04-01\n{code},TS-2,2026-04-02\n",
        encoding="utf-8",
    )
    other: list[complaints.Imported] = []
    held = held_while(
        monkeypatch,
        (complaints, "Session"),  # after its checks, before the transaction that writes
        lambda: complaints.import_complaints(engine, path, by="定时任务"),
        meanwhile=lambda: other.append(complaints.import_complaints(engine, path, by="陈明")),
    )
    assert (other, held) == ([(2, 0)], (0, 2))
    with Session(engine) as s:
        stored = sorted(c.ref for c in s.exec(select(RiskComplaint)).all())
        events = [e.event for e in audit.load_chain(s)]
    assert stored == ["TS-1", "TS-2"]
    assert events.count("RiskComplaintsImported") == 2
