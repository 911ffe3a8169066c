"""``make demo`` (``python -m shuangsui.demo``) reads the repository's plans wherever it is run
from: it looked for ``plans`` in the working directory, and run from another folder it stopped
with a traceback (``plans directory … does not exist``)."""

from __future__ import annotations

from pathlib import Path

from shuangsui import demo


def test_the_demo_reads_the_repositorys_plans() -> None:
    assert demo.PLANS == Path(__file__).resolve().parents[2] / "plans"
    assert sorted(demo.PLANS.glob("2026-12/*.yaml")), demo.PLANS
