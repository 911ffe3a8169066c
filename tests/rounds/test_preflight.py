"""The preflight shows what a plan would draw and holds a commit that looks wrong, leaving the
round key free, unless a coordinator accepts it with a reason that the audit log keeps."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from rounds import audit, service
from rounds.models import Round
from rounds.plans import load_plan_text
from rounds.preflight import preflight
from shuangsui.cli import _register_groups, app
from shuangsui.errors import CommitHeld, PlanError
from tests.rounds.factories import plan_yaml, seed_registry


def test_a_frame_that_moved_too_far_is_held_then_accepted_with_an_audited_reason(
    engine: sa.Engine,
) -> None:
    seed_registry(engine, enterprises=40)
    first = service.commit_round(engine=engine, plan_text=plan_yaml())
    assert first.frame_size == 40
    next_month = plan_yaml(plan_id="ccc-2027-01", period="2027-01")
    _grow_registry(engine)  # 60 more firms before next month's round
    with pytest.raises(CommitHeld) as held:
        service.commit_round(engine=engine, plan_text=next_month)
    assert "the frame has 100 enterprises, 150% away from the 40 of round ccc-2026-12" in str(
        held.value
    )
    assert held.value.exit_code == 5
    with Session(engine) as s:
        assert s.get(Round, "ccc-2027-01") is None
    rnd = service.commit_round(
        engine=engine,
        plan_text=next_month,
        accept="新一批获证企业已导入",
        requested_by="林科长",
    )
    with Session(engine) as s:
        chain = audit.load_chain(s, rnd.round_key)
    accepted = json.loads(chain[-1].payload)
    assert chain[-1].event == "PreflightAccepted"
    assert accepted["reason"] == "新一批获证企业已导入" and accepted["accepted_by"] == "林科长"
    assert "150% away" in accepted["refusals"][0]


def _grow_registry(engine: sa.Engine) -> None:
    """60 more CCC enterprises (the factory's second batch, other codes)."""
    import datetime as dt
    import random

    from registry.models import Certificate, Enterprise
    from tests.rounds.factories import NOW, credit_code

    rng = random.Random(12345)
    with Session(engine) as s:
        for i in range(60):
            code = credit_code(rng, "350100")
            s.add(Enterprise(credit_code=code, name=f"新企业{i}", division_code="350100",
                             risk_class="B", updated_at=NOW))  # fmt: skip
        s.commit()
    with Session(engine) as s:
        rng = random.Random(12345)
        for i in range(60):
            s.add(Certificate(body="CQC", number=f"2026020{i:09d}", kind="ccc",
                              credit_code=credit_code(rng, "350100"),
                              issued_on=dt.date(2025, 1, 1), expires_on=dt.date(2030, 1, 1),
                              updated_at=NOW))  # fmt: skip
        s.commit()


def test_round_check_prints_the_preview_and_commits_nothing(
    engine: sa.Engine, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "ccc.yaml").write_text(plan_yaml(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _register_groups()
    out = CliRunner().invoke(app, ["round", "check", str(plans / "ccc.yaml")])
    assert out.exit_code == 0, out.output
    assert "frame 60 enterprises" in out.output and "expected" in out.output
    assert "teams (estimate): feasible" in out.output
    assert "ok: round commit would proceed" in out.output
    with Session(engine) as s:
        assert s.get(Round, "ccc-2026-12") is None


@pytest.mark.parametrize(
    ("said", "instead", "line"),
    [
        ("check_item: CCC-01", "check_item: RZ-99", "check_item: 'RZ-99' is not in the check"),
        ("divisions: ['350000']", "divisions: ['310000']", "310000 (上海市) is outside this"),
        ("cert_kinds: [ccc]", "cert_kinds: [organic]", "'organic' is not a certificate kind"),
    ],
)
def test_round_check_refuses_a_plan_as_round_commit_does(
    engine: sa.Engine,
    tmp_path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    said: str,
    instead: str,
    line: str,
) -> None:
    """A plan naming a check item not in the list, a division outside the bureau's
    jurisdiction or a certificate kind the check item does not cover: `round check` said
    "ok: round commit would proceed", and `round commit` refused it. Now both refuse it with
    the same line, and so does the preflight the coordinator's ad hoc page shows."""
    seed_registry(engine)
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "ccc.yaml").write_text(plan_yaml().replace(said, instead), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _register_groups()
    check = CliRunner().invoke(app, ["round", "check", "plans/ccc.yaml"])
    commit = CliRunner().invoke(app, ["round", "commit", "plans/ccc.yaml"])
    assert isinstance(commit.exception, PlanError) and line in str(commit.exception)
    assert isinstance(check.exception, PlanError), check.output
    assert str(check.exception) == str(commit.exception)
    assert "ok: round commit would proceed" not in check.output
    plan, _ = load_plan_text(plan_yaml().replace(said, instead), source="ccc")
    with engine.connect() as conn, pytest.raises(PlanError, match=re.escape(line)):
        preflight(conn, plan, source="ccc")
    with Session(engine) as s:
        assert s.get(Round, "ccc-2026-12") is None
