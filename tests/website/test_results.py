"""Reading the results as the site shows them (website/results.py): the public version is the
latest final one, a correction history carries the day each version became final (the one
place those days are read), and the JSON columns are decoded as they were stored."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa

from findings import service
from findings.categories import ResultCategory
from tests.findings.factories import ROUND, drawn_round, final_finding, finding
from website.results import read_versions

MEASURES = [{"kind": "rectify", "deadline": "2026-12-20", "text": "限期整改"}]
ZONE = "Asia/Shanghai"


def test_public_versions_histories_and_their_final_days(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    corrected, single, unsigned = sorted(teams)[:3]
    final_finding(engine, corrected, teams[corrected])
    final_finding(engine, corrected, teams[corrected], result="ordered_to_rectify",
                  measures=MEASURES, reason="补充措施")  # fmt: skip
    service.submit(engine, round_key=ROUND, credit_code=corrected, base_version=2,
                   data=finding("other", reason="复核"),
                   submitted_by=f"inspector:{teams[corrected][0]}",
                   signers=[teams[corrected][0]])  # fmt: skip  # v3, not final
    final_finding(engine, single, teams[single])
    service.submit(engine, round_key=ROUND, credit_code=unsigned, data=finding(),
                   submitted_by=f"inspector:{teams[unsigned][0]}",
                   signers=[teams[unsigned][0]])  # fmt: skip

    with engine.connect() as conn:
        shown = read_versions(conn, [ROUND], ZONE)

    assert set(shown) == {(ROUND, corrected), (ROUND, single)}
    history = shown[(ROUND, corrected)].history
    assert [v.version for v in history] == [1, 2]
    assert shown[(ROUND, corrected)].public == history[-1]
    assert history[-1].result == ResultCategory.ordered_to_rectify
    assert history[-1].measures == MEASURES and history[0].measures == []
    states = service.history(engine, ROUND, corrected).states  # findings.state, another path
    days = [s.final_at.astimezone(ZoneInfo(ZONE)).date().isoformat() for s in states[:2]]
    assert [v.final_on for v in history] == days and all(days)
    alone = shown[(ROUND, single)]
    assert alone.history == [alone.public] and alone.public.final_on == ""  # never shown
    assert not alone.published


def test_a_finding_in_no_round_read_is_not_shown(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code])
    with engine.connect() as conn:
        assert read_versions(conn, ["another-round"], ZONE) == {}
