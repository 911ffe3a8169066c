"""``POST /rounds/adhoc`` checks a round's request against its plan before it answers
(``api.adhoc.check_overrides``), reading the plan file once: a plan named by its id was read to
be found, then read again to be checked. The check's answers are the other tests' of
``tests/api/test_adhoc_*_checked.py``; here, how often the file is read. SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from shuangsui.config import get_settings
from tests.api.test_adhoc_division_checked import served  # noqa: F401 (a fixture)
from tests.api.test_ceremony_hold import KEY

Served = tuple[str, dict[str, str], list[dict[str, Any]]]


@pytest.mark.parametrize("plan", ["ccc-2026-12", "ccc.yaml"], ids=["by-id", "by-file"])
@pytest.mark.parametrize(
    ("round_id", "status"), [(KEY, 422), ("ccc-2026-12-adhoc-2", 202)], ids=["frozen", "new"]
)
def test_the_plan_is_read_once(
    served: Served,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    plan: str,
    round_id: str,
    status: int,
) -> None:
    base, auth, _ = served
    plan_file = (get_settings().plans_dir / "ccc.yaml").resolve()
    reads: list[Path] = []
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.resolve() == plan_file:
            reads.append(self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    body = {"plan": plan, "reason": "投诉举报", "round_id": round_id, "total_cap": 1}
    r = httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)
    assert r.status_code == status, r.text
    assert len(reads) == 1, reads
