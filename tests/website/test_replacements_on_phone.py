"""Replacements on the public site as a citizen reads it: the realistic site of
``test_phone`` with members replaced for each cause, one inspector withdrawn from two teams,
opened in Chromium at 390 px with JavaScript off.

The round page counts withdrawals from a team (人次), not people: one inspector unable to
attend leaves every team they sit on, each a replacement of its own (docs/draw-algorithm.md
§14), and "2 名检查组成员被更换" said two people had left where one had."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds.replacements import replace_member
from tests.browser import headless, phone
from tests.findings.factories import ROUND, teams
from tests.website.test_phone import _measure, assert_quotes_output, publish_realistic_site, run_in
from website.site import publish


def _open_teams(engine: sa.Engine) -> dict[str, list[str]]:
    """The round's teams whose finding has no version yet (a final one cannot change)."""
    with engine.connect() as conn:
        done = set(conn.execute(sa.text("SELECT credit_code FROM finding")).scalars())
    return {code: team for code, team in teams(engine).items() if code not in done}


@pytest.mark.slow
def test_replacements_read_as_withdrawals_on_a_phone(engine: sa.Engine, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish_realistic_site(engine, out)
    # one inspector who cannot attend leaves two teams: two replacements, one person
    open_teams = _open_teams(engine)
    seats: dict[str, list[str]] = {}
    for code, team in sorted(open_teams.items()):
        for member in team:
            seats.setdefault(member, []).append(code)
    ill = next(m for m, codes in sorted(seats.items()) if len(codes) >= 2)
    for code in seats[ill][:2]:
        replace_member(engine, ROUND, code, ill, cause="unavailable", note="住院治疗" * 100,
                       recorded_by="李协调")  # fmt: skip
    left = [c for c in sorted(open_teams) if c not in seats[ill][:2]]
    for code, cause in zip(left, ("conflict", "left"), strict=False):
        replace_member(engine, ROUND, code, _open_teams(engine)[code][0], cause=cause,
                       note="其配偶在该企业任职", recorded_by="李协调")  # fmt: skip
    publish(engine, out)

    folder = out / "rounds" / ROUND
    page = (folder / "index.html").read_text("utf-8")
    said = re.search(r"<p>抽取后，(.*?)</p>", page)
    assert said is not None
    assert said.group(1).startswith(
        "检查组成员共更换 4 人次（回避 1 人次，不能到场 2 人次，调离或执法资格终止 1 人次"
    ), said.group(1)
    assert "名检查组成员" not in page
    assert "住院治疗" not in page and "其配偶" not in page  # the reasons stay in the audit log
    run = run_in(folder / "bundle")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "replacements: 4 ok" in run.stdout
    assert_quotes_output(page, run.stdout)  # the page's sample of verify.py still holds

    shots = tmp_path / "screens"
    shots.mkdir()
    with headless() as browser:
        context = phone(browser)
        page_ = context.new_page()
        for rel in ("index.html", "data/index.html", f"rounds/{ROUND}/index.html"):
            page_.goto((out / rel).as_uri())
            text = _measure(page_, shots / (rel.replace("/", "-") + ".png"), times=False)["text"]
        context.close()
    assert "检查组成员共更换 4 人次" in text  # the round page, as the phone shows it
