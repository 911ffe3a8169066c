"""``risk complaints`` of a file naming more enterprises than a statement takes parameters: the
registry and the complaints held were read with one IN of every code in the file, a parameter a
code, and PostgreSQL takes at most 65,535 (psycopg's OperationalError, a traceback). They are
now read ``risk.complaints.LOOKUP`` codes at a time, and the file's rows are named as any."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import sqlalchemy as sa

from risk.complaints import import_complaints
from shuangsui.errors import ImportRejected
from tests.rounds.factories import credit_code, seed_registry


def test_seventy_thousand_enterprises_are_named_not_a_traceback(
    engine: sa.Engine, tmp_path: Path
) -> None:
    known = seed_registry(engine)
    rng = random.Random(3)
    rows = [f"{credit_code(rng, '350100')},R-{i},2026-10-01," for i in range(70_000)]
    path = tmp_path / "complaints.csv"
    path.write_text("\n".join(["credit_code,ref,upheld_on,summary", f"{known[0]},R,2026-10-01,",
                               *rows]) + "\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(ImportRejected) as rejected:
        import_complaints(engine, path, by="林科长")
    lines = str(rejected.value).splitlines()
    assert lines[0] == "70,000 problem(s); nothing was imported:", lines[0]
    assert lines[1] == "complaints.csv:3: credit_code: not in the registry", lines[1]
    assert lines[-1] == "complaints.csv:70002: credit_code: not in the registry", lines[-1]
