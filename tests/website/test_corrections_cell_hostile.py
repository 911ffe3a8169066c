"""The CSV's ``corrections`` cell can be read back whatever a correction's reason holds: a
``；`` (the separator of versions), ``」``, a line break, or text that looks like the start of
another version (``第2版（``, ``，更正原因：``). The rule is the one the data page states: each
reason is quoted in 「」 with each ``」`` of it written twice, and a ``；`` separates versions
only outside a reason. A reader following that rule alone, with nothing but the cell, gets
back every version's number, final day, result and reason as the JSON gives them."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import sqlalchemy as sa

from tests.findings.factories import ROUND, drawn_round, final_finding
from website.site import publish

# reasons a coordinator may type (line breaks are allowed in free text), each of which made
# the cell of the program before ambiguous
HOSTILE = [
    "笔误；日期写错",
    "引用「标准」」有误」",
    "第一行\r\n第2版（2026-12-09 确定）未发现问题",
    "复核，更正原因：另一个",
    "」；第9版（2026-01-01 确定）不合格，更正原因：「伪造」",
]

_VERSION = re.compile(r"第(\d+)版(?:（(\d{4}-\d\d-\d\d) 确定）| )")
_REASON = "，更正原因：「"


def read_cell(cell: str) -> list[tuple[int, str, str, str]]:
    """(version, final day, result label, reason) of each version of a ``corrections`` cell,
    by the data page's rule alone; raises ValueError where the cell does not follow it."""
    versions, at = [], 0
    while True:
        head = _VERSION.match(cell, at)
        if head is None:
            raise ValueError(f"no version at {at}: {cell[at : at + 20]!r}")
        at = head.end()
        ends = [i for i in (cell.find("；", at), cell.find(_REASON, at)) if i >= 0]
        stop = min(ends, default=len(cell))
        label, reason, at = cell[at:stop], "", stop
        if cell.startswith(_REASON, at):
            at += len(_REASON)
            while True:  # to the first 」 not written twice
                close = cell.index("」", at)
                if cell.startswith("」」", close):
                    reason, at = reason + cell[at : close + 1], close + 2
                else:
                    reason, at = reason + cell[at:close], close + 1
                    break
        versions.append((int(head[1]), head[2] or "", label, reason))
        if at == len(cell):
            return versions
        if cell[at] != "；":
            raise ValueError(f"a version ends at {at} but no ；follows: {cell[at : at + 20]!r}")
        at += 1


def test_read_cell_reads_the_rule_as_stated() -> None:
    cell = "第1版（2026-12-07 确定）未发现问题；第2版 其它情况，更正原因：「a」」；b」"
    assert read_cell(cell) == [
        (1, "2026-12-07", "未发现问题", ""),
        (2, "", "其它情况", "a」；b"),
    ]


def test_every_version_is_read_back_from_the_cell_whatever_its_reason(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code], result="no_problem")
    for i, reason in enumerate(HOSTILE):
        result = ("ordered_to_rectify", "other")[i % 2]  # a label holding "，" among them
        kw = {"measures": [{"kind": "rectify_now"}]} if result == "ordered_to_rectify" else {}
        final_finding(engine, code, teams[code], result=result, reason=reason, **kw)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)

    record = next(r for r in json.loads((out / "data" / "results.json").read_bytes())
                  if r["credit_code"] == code)  # fmt: skip
    expected = [
        (c["version"], c["date"], c["result_label"], c["reason"]) for c in record["corrections"]
    ]
    assert [v[3] for v in expected] == ["", *HOSTILE]  # kept as typed, line break and all
    for name in ("results.csv", f"{ROUND}.csv"):
        text = (out / "data" / name).read_bytes().decode("utf-8-sig")  # its line breaks kept
        rows = csv.DictReader(io.StringIO(text, newline=""))
        cell = next(row["corrections"] for row in rows if row["credit_code"] == code)
        assert read_cell(cell) == expected, cell
    page = (out / "data" / "index.html").read_text("utf-8")
    assert "「」之间的“；”是更正原因的原文" in page and "写成两个（“」」”）" in page
