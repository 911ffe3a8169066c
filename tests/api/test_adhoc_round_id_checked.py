"""``POST /rounds/adhoc`` naming a round already committed (``round_id``, no digits) with
overrides it was not committed with (a cap, rates, divisions) is refused at once: it was
answered 202 with the round's key, and the flow's commit then refused it in the background
("committed with other arguments", an ``AdhocRefused`` seen only at ``GET /rounds/{key}``),
drawn round or not. Likewise a round named with another plan, or a drawn round asked for again
with a plan file changed since (only a committed ad hoc round asked for with its own plan and no
overrides is its ceremony's, carried as committed). Now 422 with the differences, and nothing
started; a new key with overrides, and a committed round asked for as committed, are taken as
before. SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from rounds import service
from shuangsui.config import get_settings
from tests.api.test_adhoc_division_checked import served  # noqa: F401 (a fixture)
from tests.api.test_ceremony_hold import DIGITS, KEY
from tests.rounds.factories import plan_yaml

Served = tuple[str, dict[str, str], list[dict[str, object]]]


def _refused(app: Served, body: dict[str, object], differs: str) -> None:
    """``body`` is refused 422 as the commit refuses a frozen round, naming ``differs``."""
    base, auth, started = app
    r = httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)
    assert r.status_code == 422, r.text
    said = r.json()["detail"]
    assert said.startswith(f"round {KEY} was committed with other arguments"), said
    assert differs in said, said
    assert started == []


def _draw(engine: sa.Engine) -> None:
    service.draw_round(engine=engine, round_key=KEY, requested_by="李协调",
                       entropy=service.EntropyInput(DIGITS["李协调"], ("王五",)))  # fmt: skip


@pytest.mark.parametrize("drawn", [False, True], ids=["committed", "drawn"])
def test_a_round_asked_again_with_other_overrides_is_refused_at_once(
    served: Served,  # noqa: F811
    engine: sa.Engine,
    drawn: bool,
) -> None:
    if drawn:
        _draw(engine)
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY, "total_cap": 1}
    _refused(served, body, "strata.total_cap: committed None, asked 1")


def test_a_new_round_key_with_overrides_is_taken(served: Served) -> None:  # noqa: F811
    base, auth, started = served
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": "ccc-2026-12-adhoc-2",
            "total_cap": 1}  # fmt: skip
    r = httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)
    assert r.status_code == 202, r.text
    assert [p["round_id"] for p in started] == ["ccc-2026-12-adhoc-2"]


def test_a_round_asked_again_with_another_plan_is_refused_at_once(
    served: Served,  # noqa: F811
) -> None:
    other = plan_yaml(plan_id="ccc-2026-12-b")
    (get_settings().plans_dir / "other.yaml").write_text(other, encoding="utf-8")
    body = {"plan": "ccc-2026-12-b", "reason": "投诉举报", "round_id": KEY}
    _refused(served, body, "id: committed 'ccc-2026-12', asked 'ccc-2026-12-b'")


def test_a_drawn_round_whose_plan_file_changed_is_refused_at_once(
    served: Served,  # noqa: F811
    engine: sa.Engine,
) -> None:
    _draw(engine)
    changed = plan_yaml(min_per_stratum=2)
    (get_settings().plans_dir / "ccc.yaml").write_text(changed, encoding="utf-8")
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY}
    _refused(served, body, "strata.min_per_stratum: committed 1, asked 2")


def test_a_committed_round_asked_for_as_committed_is_taken(
    served: Served,  # noqa: F811
) -> None:
    """Its ceremony's request, or a retry: carried as committed, even with the file changed."""
    base, auth, started = served
    changed = plan_yaml(min_per_stratum=2)
    (get_settings().plans_dir / "ccc.yaml").write_text(changed, encoding="utf-8")
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY}
    r = httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)
    assert r.status_code == 202, r.text
    assert [p["round_id"] for p in started] == [KEY]
