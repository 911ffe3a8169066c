"""The open-data page says what the CSV's columns hold, as a downloader reads them: the
``check_item`` column holds the check item's name (the page said its code, which a reader
filtering by ``CCC-01`` never finds there; the code is in ``rounds.json``), and ``version`` is
the number of the version shown, which is not 1 for a result whose first version was revised
before its team signed it, though it was never corrected after (the page said 2 and above were
corrections); its days are Beijing's, its times UTC. In headless Chromium at 390 px,
JavaScript off; the screenshot under the test's ``tmp_path``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import sqlalchemy as sa

from findings import service
from tests.browser import headless, phone
from tests.findings.factories import ROUND, drawn_round, final_finding, finding
from tests.website.test_phone import _measure
from website.site import publish


def test_the_data_page_says_what_check_item_and_version_hold(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    lead = teams[code][0]
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    final_finding(engine, code, teams[code], reason="签署前补充说明")  # version 2, the first final
    out = tmp_path / "site"
    publish(engine, out, bundles=False)

    text = (out / "data" / f"{ROUND}.csv").read_bytes().decode("utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(text, newline="")) if r["credit_code"] == code)
    (listed,) = json.loads((out / "data" / "rounds.json").read_bytes())
    assert row["check_item"] != listed["check_item"]  # a name here, the code there
    assert row["version"] == "2" and row["corrections"] == ""  # never corrected after

    with headless() as browser:
        page = phone(browser).new_page()
        page.goto((out / "data" / "index.html").as_uri())
        said = {
            dt: page.locator("dl.facts dt", has_text=dt).locator("xpath=following-sibling::dd[1]")
            for dt in ("check_item", "version")
        }
        check_item = said["check_item"].inner_text()
        assert "名称" in check_item and "rounds.json" in check_item, check_item
        assert said["check_item"].locator('a[href="rounds.json"]').count() == 1
        version = said["version"].inner_text()
        assert "不一定是第 1 版" in version and "更正后的结论" not in version, version
        intro = page.locator("main p").first.inner_text()  # a day is the bureau's, not UTC's
        assert "日期（check_date、更正记录中该版确定的日期）为北京时间的日期" in intro, intro
        _measure(page, tmp_path / "data.png", times=False)
