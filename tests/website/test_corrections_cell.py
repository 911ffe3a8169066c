"""The CSV's ``corrections`` cell says what a citizen needs: each version with the day it
became final (said to be that, not the check's date), its result, and the reason given for
the correction; a version without a reason has no dangling colon. The data page explains the
column. A site published by the program before this cell (its CSV shares kept between
publishes) is rewritten whole by the first publish of this program: no old cell remains."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser import headless, phone
from tests.findings.factories import ROUND, drawn_round, final_finding
from tests.website.test_phone import _measure
from website import inputs, opendata
from website.model import PublicResult
from website.site import publish


def _cells(path: Path) -> dict[str, str]:
    """credit code -> corrections cell of a results CSV."""
    rows = csv.DictReader(io.StringIO(path.read_text("utf-8-sig"), newline=""))
    return {row["credit_code"]: row["corrections"] for row in rows}


def _old_cell(r: PublicResult) -> str:
    """The cell as the program before wrote it."""
    return " | ".join(
        f"v{c.version} {c.date} {c.result_label}: {c.reason}".strip() for c in r.history
    )


def _corrected_site(engine: sa.Engine) -> tuple[str, str]:
    """A drawn round with a result corrected twice (its first version has no reason: a first
    version never has one) and one never corrected: (corrected code, plain code)."""
    teams = drawn_round(engine)
    corrected, plain = sorted(teams)[:2]
    final_finding(engine, corrected, teams[corrected], result="no_problem")
    final_finding(engine, corrected, teams[corrected], result="other", reason="笔误；日期写错")
    final_finding(engine, corrected, teams[corrected], result="no_problem", reason="复核")
    final_finding(engine, plain, teams[plain], result="no_problem")
    return corrected, plain


def _expected(out: Path, code: str) -> str:
    """The cell as it should read, from the JSON record's fields (kept as they are)."""
    record = next(r for r in json.loads((out / "data" / "results.json").read_bytes())
                  if r["credit_code"] == code)  # fmt: skip
    days = [c["date"] for c in record["corrections"]]
    assert [c["version"] for c in record["corrections"]] == [1, 2, 3]
    assert all(len(day) == 10 for day in days), days  # each version's final day
    return (
        f"第1版（{days[0]} 确定）未发现问题；"
        f"第2版（{days[1]} 确定）其它情况，更正原因：「笔误；日期写错」；"
        f"第3版（{days[2]} 确定）未发现问题，更正原因：「复核」"
    )


def test_the_cell_says_each_version_its_final_day_result_and_reason(
    engine: sa.Engine, tmp_path: Path
) -> None:
    corrected, plain = _corrected_site(engine)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)

    expected = _expected(out, corrected)
    for csv_file in (out / "data" / "results.csv", out / "data" / f"{ROUND}.csv"):
        cells = _cells(csv_file)
        assert cells[corrected] == expected
        assert cells[plain] == ""
        assert not any(cell.endswith((":", "：")) for cell in cells.values())
    page = (out / "data" / "index.html").read_text("utf-8")
    assert "<dt>corrections</dt>" in page
    assert "不是检查日期" in page  # the day in brackets is not the check's date


def test_the_first_publish_of_this_program_leaves_no_cell_of_the_one_before(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site as the program before left it (its cell, its own program hash in every
    round's fingerprint and in its kept pieces), then a publish of this program with nothing
    else changed: every round read again, both CSVs written again with the new cell."""
    corrected, _ = _corrected_site(engine)
    out = tmp_path / "site"
    with monkeypatch.context() as before:
        before.setattr(opendata, "_corrections", _old_cell)
        before.setattr(inputs, "code_version", lambda: "the program before")
        publish(engine, out, bundles=False)
    assert _cells(out / "data" / "results.csv")[corrected].startswith("v1 ")

    report = publish(engine, out, bundles=False)

    assert report.reread == [ROUND]
    assert {"data/results.csv", f"data/{ROUND}.csv"} <= set(report.written)
    for csv_file in (out / "data" / "results.csv", out / "data" / f"{ROUND}.csv"):
        text = csv_file.read_text("utf-8-sig")
        assert " | " not in text and ",v1 " not in text
        assert _cells(csv_file)[corrected] == _expected(out, corrected)
    assert publish(engine, out, bundles=False).written == []  # and then it stands


@pytest.mark.slow
@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_a_corrected_result_and_the_data_page_read_on_a_phone(
    engine: sa.Engine, tmp_path: Path, javascript: bool
) -> None:
    corrected, _ = _corrected_site(engine)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    with headless() as browser:
        page = phone(browser, javascript=javascript).new_page()
        page.goto((out / "rounds" / ROUND / "index.html").as_uri() + f"#e-{corrected}")
        row = page.locator(f"#e-{corrected}")
        history = row.locator("details.history")
        expect(history.locator("summary")).to_have_text("已更正（第 3 版）")
        history.locator("summary").click()
        expect(history.locator("li")).to_have_count(3)
        # each version as the CSV says it: its final day said to be that
        expect(history.locator("li").first).to_have_text(
            re.compile(r"^第1版（\d{4}-\d\d-\d\d 确定）未发现问题$")
        )
        expect(history.locator("li").nth(1)).to_contain_text(
            "确定）其它情况，更正原因：笔误；日期写错"
        )
        row.scroll_into_view_if_needed()
        _measure(page, tmp_path / "round.png")
        page.screenshot(path=str(tmp_path / "corrected-row.png"))

        page.goto((out / "data" / "index.html").as_uri() + "#columns")
        text = _measure(page, tmp_path / "data.png", times=False)["text"]
        assert "corrections" in text and "不是检查日期" in text
