"""The ceremony of an ad hoc round started with a cap (or raised rates, or divisions), held
from its page with the real runner: the round is drawn as it was committed. The page handed
the adhoc-round flow the plan without them, which refused the round in the background as
"committed with other arguments" after the page had said the draw was under way; the round
stayed committed, its form offered again, failing the same way each time."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from rounds.models import AuditEvent, Round, RoundKind, Selection
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, sign_in

KEY = "ccc-2026-12-adhoc-capped"


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    "overrides",
    [{"total_cap": 2}, {"rates": {"A": "50%"}}],
    ids=["total_cap", "rates"],
)
def test_an_adhoc_round_committed_with_overrides_is_drawn_from_its_page(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: dict
) -> None:
    from api.adhoc import wait_for_running
    from rounds import service

    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=KEY, requested_by="李协调", reason="投诉举报",
                         overrides=overrides)  # fmt: skip
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        page = http.get(f"/w/c/rounds/{KEY}")
        assert page.status_code == 200 and "摇号仪式" in page.text
        data = {"csrf": csrf_of(page.text), "witnesses": "公证员 黄海、王五",
                "witness_digits": "27182818284590452353", "confirmed": "1"}  # fmt: skip
        r = http.post(f"/w/c/rounds/{KEY}/ceremony", data=data)
        assert r.status_code == 303 and r.headers["location"] == f"/w/c/rounds/{KEY}?ceremony=1"
        assert wait_for_running(timeout=120) == []
        after = http.get(f"/w/c/rounds/{KEY}")
    with Session(engine) as s:
        drawn = s.get(Round, KEY)
        assert drawn is not None and drawn.status.value == "drawn", drawn and drawn.status
        chosen = s.exec(select(Selection).where(Selection.round_key == KEY)).all()
        events = s.exec(select(AuditEvent).where(AuditEvent.round_key == KEY)).all()
    names = [e.event for e in events]
    assert names.count("DrawMade") == 1 and "AdhocRefused" not in names
    assert any(e.event == "AdhocRequested" and '"ceremony"' in e.payload for e in events)
    if "total_cap" in overrides:
        assert 0 < len(chosen) <= overrides["total_cap"]  # drawn under the committed cap
    assert "摇号仪式" not in after.text and re.search(r"已摇号|检查结果填报中", after.text)
