"""Which plans are due in a period: the bureau's YAML plans under version control."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from rounds.plans import find_plan, plan_files, read_plan  # noqa: F401  (find_plan: re-exported)
from shuangsui.errors import PlanError


def current_period(tz: str = "Asia/Shanghai", today: dt.date | None = None) -> str:
    day = today or dt.datetime.now(ZoneInfo(tz)).date()
    return f"{day.year:04d}-{day.month:02d}"


def plans_due(plans_dir: Path, period: str) -> list[Path]:
    """Plan files whose ``period`` is ``period``, sorted by path (so by plan id, stably)."""
    if not plans_dir.is_dir():
        raise PlanError(f"plans directory {plans_dir} does not exist (SHUANGSUI_PLANS_DIR)")
    due = []
    for path in plan_files(plans_dir):
        try:
            data = yaml.safe_load(read_plan(path))
        except yaml.YAMLError as exc:
            raise PlanError(f"{path}: not valid YAML: {exc}") from None
        if isinstance(data, dict) and str(data.get("period")) == period:
            due.append(path)
    return due
