"""The coordinator's pages after years of rounds: a page about one month or one round reads
that month's or that round's results, never the bureau's whole history (after five years, 120
rounds: the month page took 0.45 s and a round's page 0.3 s, most of it reading every round's
findings to count the late ones of the rounds it shows)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

import findings.records
from findings.records import ResultRecord
from rounds import service as rounds
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.rounds.factories import plan_yaml, plans_folder
from workspace import overview

EARLIER = "ccc-2026-11"


def _two_months(engine: sa.Engine) -> None:
    """``ccc-2026-12`` and, a month before it, ``ccc-2026-11``: both drawn."""
    drawn_round(engine)
    rounds.commit_round(engine=engine, plan_text=plan_yaml(plan_id=EARLIER, period="2026-11"))
    digits = rounds.EntropyInput(witness_digits="2718281828459045235360", witnesses=("李四",))
    rounds.draw_round(engine=engine, round_key=EARLIER, entropy=digits)


def _rounds_read(monkeypatch: pytest.MonkeyPatch) -> list[Sequence[str] | None]:
    """The rounds each reading of results asks for (None: every round)."""
    asked: list[Sequence[str] | None] = []
    load = findings.records.load_results

    def spy(conn: sa.Connection, round_keys: Sequence[str] | None = None) -> list[ResultRecord]:
        asked.append(None if round_keys is None else sorted(round_keys))
        return load(conn, round_keys)

    monkeypatch.setattr(findings.records, "load_results", spy)
    monkeypatch.setattr(overview, "load_results", spy)
    return asked


def test_a_round_page_reads_its_own_round_only(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_months(engine)
    asked = _rounds_read(monkeypatch)
    view = overview.round_view(engine, get_settings(), ROUND)
    assert view is not None and view.rows
    assert asked and all(keys == [ROUND] for keys in asked), asked


def test_the_month_page_reads_that_months_rounds_only(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _two_months(engine)
    plans_folder(tmp_path, monkeypatch)  # the plan of ccc-2026-12
    asked = _rounds_read(monkeypatch)
    shown, rows, _ = overview.month(engine, get_settings(), "2026-12")
    assert shown == "2026-12" and [r.round_key for r in rows] == [ROUND]
    assert asked and all(keys is not None and EARLIER not in keys for keys in asked), asked


def test_plan_files_are_parsed_again_only_when_they_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The plans folder keeps every month's plans (two a month: 120 files after five years,
    about a second to parse on every page that lists plans)."""
    plans = plans_folder(tmp_path, monkeypatch, files={
        "2026-11.yaml": plan_yaml(plan_id="ccc-2026-11", period="2026-11"),
        "2026-12.yaml": plan_yaml(plan_id="ccc-2026-12", period="2026-12"),
    })  # fmt: skip
    parsed: list[str] = []
    load = overview.load_plan_text

    def counting(text: str, *, source: str = "") -> tuple[dict, str]:
        parsed.append(source)
        return load(text, source=source)

    monkeypatch.setattr(overview, "load_plan_text", counting)
    first, _ = overview.read_plans(plans)
    first[0][1]["title"] = "a page's own change"  # each reader gets a plan of its own
    again, _ = overview.read_plans(plans)
    assert [p["id"] for _, p in again] == ["ccc-2026-11", "ccc-2026-12"]
    assert again[0][1]["title"] == "强制性产品认证获证产品一致性检查"
    changed = plan_yaml(plan_id="ccc-2026-12", period="2026-12").replace("一致性检查", "一致性复查")
    (plans / "2026-12.yaml").write_text(changed, encoding="utf-8")
    last, _ = overview.read_plans(plans)
    assert last[1][1]["title"] == "强制性产品认证获证产品一致性复查"
    assert sorted(parsed) == ["2026-11.yaml", "2026-12.yaml", "2026-12.yaml"], parsed
