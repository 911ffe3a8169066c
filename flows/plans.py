"""Which plans are due in a period, and which an ad hoc round may take: the bureau's YAML plans
under version control."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from rounds.plans import find_plan, may_hold, plan_files, read_plan  # noqa: F401  (find_plan)
from shuangsui.errors import PlanError

Plans = list[tuple[Path, dict[str, Any]]]  # (file, parsed plan), as workspace.overview.read_plans


def current_period(tz: str = "Asia/Shanghai", today: dt.date | None = None) -> str:
    day = today or dt.datetime.now(ZoneInfo(tz)).date()
    return f"{day.year:04d}-{day.month:02d}"


def period_end(period: str, tz: str = "Asia/Shanghai") -> dt.datetime:
    """The instant month ``period`` (YYYY-MM) ends in ``tz``: the next month's first midnight."""
    year, month = int(period[:4]), int(period[5:7])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return dt.datetime(year, month, 1, tzinfo=ZoneInfo(tz))


def plans_due(plans_dir: Path, period: str) -> list[tuple[Path, str]]:
    """Plan files whose ``period`` is ``period``, each with the text that said so, sorted by
    path (so by plan id, stably). The round is committed from that text, not the file read
    again: edited in between (its period moved), the file would commit another month's round
    in this month's run."""
    if not plans_dir.is_dir():
        raise PlanError(f"plans directory {plans_dir} does not exist (SHUANGSUI_PLANS_DIR)")
    due = []
    for path in plan_files(plans_dir):
        text = read_plan(path)
        if not may_hold(text, period):  # the other months' plans, unparsed
            continue
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PlanError(f"{path}: not valid YAML: {exc}") from None
        if isinstance(data, dict) and str(data.get("period")) == period:
            due.append((path, text))
    return due


def current_plans(plans: Plans, period: str) -> Plans:
    """The plans an ad hoc round may be started under in ``period``, in their order: of each
    check item, those of its latest period up to ``period`` and those of later periods. A
    round takes its plan's period and check window, so one of a past month's plan is late the
    day it is drawn; the folder keeps every month's plans for years (after five, 122 were
    offered, 2022's first). An item whose plan for this month is not written yet keeps last
    month's on offer."""
    begun: dict[str, str] = {}  # check item -> its latest period up to ``period``
    for _, plan in plans:
        item, when = str(plan["check_item"]), str(plan["period"])
        if when <= period:
            begun[item] = max(begun.get(item, ""), when)
    return [(path, plan) for path, plan in plans if _on_offer(plan, begun)]


def _on_offer(plan: dict[str, Any], begun: dict[str, str]) -> bool:
    return str(plan["period"]) >= begun.get(str(plan["check_item"]), "")
