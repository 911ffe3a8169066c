"""The preflight shows what a plan would draw and holds a commit that looks wrong, leaving the
round key free, unless a coordinator accepts it with a reason that the audit log keeps."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, update
from typer.testing import CliRunner

from registry.models import Enterprise, RegistryImport
from rounds import audit, service
from rounds.holds import (
    EmptyPopulation,
    FrameMoved,
    NeverImported,
    RegistryStale,
    StratumAppears,
    StratumVanishes,
)
from rounds.models import Round
from rounds.plans import load_plan_text
from rounds.preflight import (
    describe,
    preflight,
    refusals,
)
from shuangsui.cli import _register_groups, app
from shuangsui.errors import CommitHeld, PlanError
from tests.findings.factories import drawn_round
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


def test_each_reason_to_hold_and_change_says_the_english_the_cli_and_the_api_print() -> None:
    """The reasons are typed, for the pages that say them in another language; their English,
    which the CLI, the API, the audit log and the notices carry, is pinned here."""
    at = dt.datetime(2026, 10, 30, 18, 10, tzinfo=dt.UTC)
    said = [
        (EmptyPopulation("ccc-2026-12"),
         "the population is empty: no enterprise of the registry matches plan ccc-2026-12 "
         "(is the registry imported? are the divisions and certificate kinds right?)"),
        (NeverImported(), "the registry has never been imported"),
        (RegistryStale(at, 35),
         "the registry was last imported on 2026-10-30, more than 35 days ago "
         "(SHUANGSUI_REGISTRY_MAX_AGE_DAYS)"),
        (FrameMoved(frame_size=21, moved=0.5, last_size=42, last_round="ccc-2026-11",
                    limit=0.25),
         "the frame has 21 enterprises, 50% away from the 42 of round ccc-2026-11 "
         "(more than 25%, SHUANGSUI_FRAME_CHANGE_LIMIT)"),
        (StratumAppears("350100/D"), "stratum 350100/D appears"),
        (StratumVanishes("350200/B"), "stratum 350200/B vanishes"),
    ]  # fmt: skip
    for reason, english in said:
        assert str(reason) == english


def test_the_preflight_gives_its_reasons_and_changes_with_their_values(
    engine: sa.Engine,
) -> None:
    """Last round's firms of 350600 moved to 350300 (the frame keeps its size) and the registry
    not imported since January: the changes name the strata, the reason carries the import."""
    drawn_round(engine, enterprises=40)  # ccc-2026-12: its strata are known once drawn
    with Session(engine) as s:
        last = s.get(Round, "ccc-2026-12")
        assert last is not None and last.counts
    moved = sorted(key.split("/")[1] for key in last.counts if key.startswith("350600/"))
    assert moved
    imported = dt.datetime(2026, 1, 5, 4, tzinfo=dt.UTC)  # the same day in Beijing
    with Session(engine) as s:
        s.exec(update(Enterprise).where(col(Enterprise.division_code) == "350600")
               .values(division_code="350300"))  # type: ignore[call-overload]  # fmt: skip
        s.exec(update(RegistryImport).values(at=imported))  # type: ignore[call-overload]
        s.commit()
    plan, _ = load_plan_text(plan_yaml(plan_id="ccc-2027-01", period="2027-01"), source="ccc")
    with engine.connect() as conn:
        report = preflight(conn, plan, source="ccc")
    assert report.changes == (
        *(StratumAppears(f"350300/{cls}") for cls in moved),
        *(StratumVanishes(f"350600/{cls}") for cls in moved),
    )
    now = dt.datetime(2027, 1, 5, tzinfo=dt.UTC)
    held = refusals(report, now=now, max_age_days=35, max_change=0.25)
    assert held == [RegistryStale(imported, 35)]
    assert "last imported on 2026-01-05, more than 35 days ago" in str(held[0])
    changes = ", ".join(
        [*(f"stratum 350300/{cls} appears" for cls in moved),
         *(f"stratum 350600/{cls} vanishes" for cls in moved)]
    )  # fmt: skip
    assert f"last comparable round ccc-2026-12: frame 40; {changes}" in "\n".join(describe(report))
