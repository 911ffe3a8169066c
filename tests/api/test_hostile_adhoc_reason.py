"""``POST /rounds/adhoc`` with a reason holding a NUL or an invisible character, over real
HTTP: it was answered 202, the round committed with that reason (a right-to-left override
showed the month page's 临时抽查：复查‮21-6202 reversed; a NUL cannot be stored by PostgreSQL,
so the commit failed in the background after the 202). Now 422 naming ``body.reason``, and
nothing is started."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.findings.live import serve


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("复查\u202e21-6202 号投诉", "U+202E"),
        ("复查\u200b投诉", "U+200B"),
        ("复查\x00投诉", "U+0000"),
        ("复查\x1b[31m投诉", "U+001B"),
    ],
)
def test_a_reason_with_a_control_or_invisible_character_starts_nothing(
    engine: sa.Engine, reason: str, said: str
) -> None:
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"mode": "test", "round_key": "adhoc-x", "state": "scheduled"}

    token = tokens.create_coordinator(engine, "王五", get_settings().bureau_code)
    auth = {"Authorization": f"Bearer {token}"}
    with serve(create_app(engine=engine, adhoc_runner=runner)) as base:
        with httpx.Client(base_url=base, headers=auth) as http:
            body = {"plan": "ccc-2026-12", "reason": reason, "total_cap": 2}
            r = http.post("/rounds/adhoc", json=body)
            assert r.status_code == 422, r.text
            detail = r.json()["detail"]
            assert "body.reason" in detail and said in detail, detail
            # line breaks and tabs stay text, as in every free text
            ok = http.post("/rounds/adhoc", json=body | {"reason": "复查\n第二行\t投诉"})
            assert ok.status_code == 202, ok.text
    assert [p["reason"] for p in started] == ["复查\n第二行\t投诉"]
