"""The month page's 月份 typed as a browser without a month picker lets it be typed (a text
box: ``2026年12月``, ``2026-1``, ``202612``) is refused naming the field by its label, 月份, as
the page shows it, then by the address's parameter (``period``, for one who edits the address);
it was named by the parameter alone, which the page never shows. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.workspace.helpers import sign_in


@pytest.mark.parametrize("typed", ["2026年12月", "2026-1", "202612", "2026-13"])
def test_a_month_typed_wrong_is_said_by_its_label(engine: sa.Engine, typed: str) -> None:
    ssc = tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        assert '<label for="period">月份</label>' in http.get("/w/c/").text
        refused = http.get("/w/c/", params={"period": typed})
    said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", refused.text))
    assert refused.status_code == 400
    assert "月份（period）：应为 YYYY-MM 形式的月份，例如 2026-12。" in said
