"""Which plans are due in a period: the bureau's YAML plans under version control."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from shuangsui.errors import PlanError


def current_period(tz: str = "Asia/Shanghai", today: dt.date | None = None) -> str:
    day = today or dt.datetime.now(ZoneInfo(tz)).date()
    return f"{day.year:04d}-{day.month:02d}"


def plans_due(plans_dir: Path, period: str) -> list[Path]:
    """Plan files whose ``period`` is ``period``, sorted by path (so by plan id, stably)."""
    if not plans_dir.is_dir():
        raise PlanError(f"plans directory {plans_dir} does not exist (SHUANGSUI_PLANS_DIR)")
    due = []
    for path in sorted(plans_dir.rglob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise PlanError(f"{path}: not valid YAML: {exc}") from None
        if isinstance(data, dict) and str(data.get("period")) == period:
            due.append(path)
    return due


def find_plan(plans_dir: Path, plan: str) -> Path:
    """A plan named by path, or by its ``id`` among the bureau's plans."""
    candidate = Path(plan)
    if candidate.is_file():
        return candidate
    for path in sorted(plans_dir.rglob("*.y*ml")) if plans_dir.is_dir() else []:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("id") == plan:
            return path
    raise PlanError(f"plan {plan!r}: no such file, and no plan with that id in {plans_dir}")
