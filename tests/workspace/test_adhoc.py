"""The ad hoc round form: a preview that commits nothing, then a start through the API's runner;
the ceremony form of a committed ad hoc round. Real server, real database; the runner is the
injected one (the flow itself is tested in tests/flows)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from rounds.models import AuditEvent, Round
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import coordinator_client, sign_in


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _start_key(html: str) -> str:
    """The start key of the ad hoc form (a preview's), which names the round it starts."""
    found = re.search(r'name="start_key" value="([0-9a-f]+)"', html)
    assert found, "the form has its start key"
    return found.group(1)


def test_preview_then_start_an_adhoc_round(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"mode": "test", "round_key": "ccc-2026-12-adhoc-x", "state": "running"}

    with serve(create_app(engine=engine, adhoc_runner=runner)) as base:
        with httpx.Client(base_url=base) as http:
            assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
            form = http.get("/w/c/adhoc")
            assert form.status_code == 200 and "ccc-2026-12" in form.text
            data = {"csrf": _csrf(form.text), "plan": "ccc-2026-12", "reason": "投诉举报",
                    "total_cap": "5", "action": "preview"}  # fmt: skip
            assert http.post("/w/c/adhoc", data={**data, "csrf": ""}).status_code == 403
            bad = http.post("/w/c/adhoc", data={**data, "rates": "D=fifty"})
            assert bad.status_code == 422 and "提高抽查比例：" in bad.text
            low = http.post("/w/c/adhoc", data={**data, "rates": "D=50%"})
            assert low.status_code == 422 and "低于计划规定的 100%" in low.text  # never below
            preview = http.post("/w/c/adhoc", data=data)
            assert (
                preview.status_code == 200
                and "预检" in preview.text
                and "提交并开始" in preview.text
            )
            assert started == []  # a preview starts nothing
            with Session(engine) as s:
                assert s.exec(select(Round)).first() is None
            start_key = _start_key(preview.text)
            go = http.post("/w/c/adhoc", data={**data, "action": "start", "start_key": start_key})
            assert go.status_code == 303 and "started=ccc-2026-12-adhoc-x" in go.headers["location"]
    (asked,) = started
    assert asked.pop("round_id").startswith("adhoc-ccc-2026-12-")  # named by the form
    assert asked == {"requested_by": "李协调", "plan": "ccc-2026-12", "reason": "投诉举报",
                     "total_cap": 5}  # fmt: skip
    with Session(engine) as s:
        events = s.exec(select(AuditEvent.event)).all()
    assert "AdhocRequested" in events


def test_the_ceremony_form_of_a_committed_adhoc_round(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rounds import service
    from rounds.models import RoundKind

    seed_registry(engine)
    key = "ccc-2026-12-adhoc-1"
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=key, requested_by="李协调", reason="投诉举报")  # fmt: skip
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"mode": "test", "round_key": params["round_key"], "state": "running"}

    with serve(create_app(engine=engine, draw_runner=runner)) as base:
        with httpx.Client(base_url=base) as http:
            assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
            page = http.get(f"/w/c/rounds/{key}")
            assert page.status_code == 200 and "摇号仪式" in page.text
            action = f"/w/c/rounds/{key}/ceremony"
            data = {"csrf": _csrf(page.text), "witnesses": "王五, 赵六",
                    "witness_digits": "27182818284590452353", "confirmed": "1"}  # fmt: skip
            assert http.post(action, data={**data, "csrf": "x"}).status_code == 403
            assert http.post(action, data={**data, "witness_digits": "12ab"}).status_code == 422
            r = http.post(action, data=data)
            assert r.status_code == 303
    # drawn as committed by the draw runner (draw-round), the plan not asked for again
    assert started == [{"round_key": key, "requested_by": "李协调",
                        "witness_digits": "27182818284590452353",
                        "witnesses": ["王五", "赵六"]}]  # fmt: skip


@pytest.mark.usefixtures("prefect_harness")
def test_a_scheduled_rounds_ceremony_is_held_from_its_page_and_draws_it_once(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monthly round waits for its witnesses' digits: the coordinator enters them on the
    round's page, the real runner draws that round (the draw-round flow, in this process),
    and the page then offers no ceremony; digits sent again are refused, the draw unchanged."""
    from api.adhoc import wait_for_running
    from rounds import service

    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    key = service.commit_round(engine=engine, plan_text=plan_yaml()).round_key
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        page = http.get(f"/w/c/rounds/{key}")
        assert page.status_code == 200 and "摇号仪式" in page.text
        action = f"/w/c/rounds/{key}/ceremony"
        data = {"csrf": _csrf(page.text), "witnesses": "公证员 黄海、王五",
                "witness_digits": "27182818284590452353", "confirmed": "1"}  # fmt: skip
        r = http.post(action, data=data)
        assert r.status_code == 303 and r.headers["location"] == f"/w/c/rounds/{key}?ceremony=1"
        assert wait_for_running(timeout=120) == []
        with Session(engine) as s:
            drawn = s.get(Round, key)
            assert drawn is not None and drawn.status.value == "drawn"
            witnessed = next(e for e in drawn.entropy if e["source"] == "witness-digits")
            events = [e.event for e in s.exec(select(AuditEvent).where(
                AuditEvent.round_key == key)).all()]  # fmt: skip
        assert witnessed["digits"] == "27182818284590452353"
        assert witnessed["witnesses"] == ["公证员", "黄海", "王五"]
        assert "CeremonyEntered" in events and events.count("DrawMade") == 1
        after = http.get(f"/w/c/rounds/{key}")
        assert "摇号仪式" not in after.text and "已摇号" in after.text
        again = http.post(action, data={**data, "witness_digits": "1" * 20})
        assert again.status_code == 409 and "您提交的仪式数字未被采用：本轮已由" in again.text
    with Session(engine) as s:
        assert s.get(Round, key).seed == drawn.seed  # type: ignore[union-attr]


def test_the_ceremony_of_a_missing_round_names_its_key_cut_short(engine: sa.Engine) -> None:
    """A ceremony posted for a round that does not exist, under a 60,000-character key (httpx
    sends an address up to 64 KiB): the 404 page names the key cut to 64 characters, as the
    round's own page does, and sends the coordinator back to the month."""
    long_key = "a" * 60_000
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, coordinator_client(base, ssc) as http:
        data = {"csrf": _csrf(http.get("/w/c/adhoc").text), "witnesses": "王五",
                "witness_digits": "27182818284590452353"}  # fmt: skip
        r = http.post(f"/w/c/rounds/{long_key}/ceremony", data=data)
    assert r.status_code == 404, r.status_code
    assert len(r.content) < 8_000, len(r.content)
    assert f"没有轮次 {'a' * 64}…。" in r.text and "a" * 65 not in r.text
    assert 'href="/w/c/"' in r.text
