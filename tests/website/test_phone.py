"""The public site on a phone: headless Chromium at 390×844 with JavaScript off.

A realistic site (a drawn round whose results fall in many categories and counties, a round
committed and not yet drawn) is published and its index and round page are opened as a citizen
would on a phone. Measured in the page (the test may run script in the page's own world even
with the page's JavaScript off): nothing wider than the screen, no text drawn over other text,
strata and categories in Chinese, times labelled 北京时间, no JSON in the visible text.
Screenshots go under the test's tmp_path.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from findings.categories import RESULT_LABELS, ResultCategory
from rounds import service
from shuangsui.config import get_settings
from shuangsui.errors import InfeasibleDraw
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND, final_finding, teams
from tests.rounds.factories import plan_yaml, seed_registry
from website import explain
from website.records import load_site
from website.render import render_round
from website.site import publish

NEXT = "ccc-2027-01"
LABELLED_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} 北京时间")
# enterprises spread over 24 counties of four prefectures (GB/T 2260 codes)
COUNTIES = [
    *("350102", "350103", "350104", "350105", "350111", "350121", "350122", "350181"),
    *("350203", "350205", "350206", "350211", "350212", "350213"),
    *("350502", "350503", "350504", "350505", "350521", "350524"),
    *("350602", "350603", "350622", "350623"),
]
FINDINGS: list[dict[str, Any]] = [
    {"result": "no_problem"},
    {"result": "ordered_to_rectify", "measures": [{"kind": "rectify", "deadline": "2027-01-15"}]},
    {"result": "unreachable"},
    {"result": "no_activity"},
    {"result": "not_disclosed"},
    {"result": "rectified"},
    {"result": "under_investigation", "measures": [{"kind": "case_filed"}]},
    {"result": "mark_misused"},
    {"result": "product_differs"},
    {"result": "other"},
]


def publish_realistic_site(engine: sa.Engine, out: Path) -> None:
    """Two rounds: ``ccc-2026-12`` drawn from 120 enterprises in 24 counties, with final results
    in ten categories; ``ccc-2027-01`` committed, its draw still to come."""
    codes = seed_registry(engine, enterprises=120)
    with engine.begin() as conn:
        for i, code in enumerate(codes):
            conn.execute(
                sa.text("UPDATE enterprise SET division_code = :d WHERE credit_code = :c"),
                {"d": COUNTIES[i % len(COUNTIES)], "c": code},
            )
    listed = "\n".join(f"    - {{credit_code: '{code}', reason: 投诉举报}}" for code in codes[5:7])
    service.commit_round(engine=engine, plan_text=plan_yaml(extra=f"targeted:\n  list:\n{listed}"))
    service.draw_round(
        engine=engine,
        round_key=ROUND,
        entropy=service.EntropyInput(
            witness_digits="3141592653589793238462643", witnesses=("张三", "李四")
        ),
    )
    drawn = teams(engine)
    for i, code in enumerate(sorted(drawn)[: 2 * len(FINDINGS)]):
        final_finding(engine, code, drawn[code], **FINDINGS[i % len(FINDINGS)])
    service.commit_round(engine=engine, plan_text=plan_yaml(plan_id=NEXT, period="2027-01"))
    publish(engine, out)


# Run in the page: boxes of every element and of every run of text (one per line box).
MEASURE = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (!el.checkVisibility()) continue;  // e.g. inside a closed <details>
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > width + 0.5 || r.left < -0.5)) {
      wide.push(el.tagName + '.' + el.className + ' ' + Math.round(r.left) + '..' +
                Math.round(r.right) + ' ' + (el.textContent || '').trim().slice(0, 40));
    }
  }
  const runs = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.data.trim() || !node.parentElement.checkVisibility()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      if (r.width > 0 && r.height > 0) {
        runs.push({text: node.data.trim().slice(0, 30), l: r.left, r: r.right, t: r.top,
                   b: r.bottom});
      }
    }
  }
  runs.sort((a, b) => a.t - b.t);
  const overlaps = [];
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length && runs[j].t < runs[i].b - 1; j++) {
      const a = runs[i], b = runs[j];
      const dx = Math.min(a.r, b.r) - Math.max(a.l, b.l);
      const dy = Math.min(a.b, b.b) - Math.max(a.t, b.t);
      if (dx > 1 && dy > 1) overlaps.push(a.text + ' / ' + b.text);
    }
  }
  return {scroll: document.documentElement.scrollWidth, width: width, wide: wide,
          overlaps: overlaps, text: document.body.innerText};
}"""


def _measure(page: Any, shot: Path, *, times: bool = True) -> dict[str, Any]:
    page.screenshot(path=str(shot), full_page=True)
    found: dict[str, Any] = page.evaluate(MEASURE)
    assert found["width"] == PHONE["width"]
    assert found["scroll"] <= PHONE["width"], found["wide"][:10]
    assert found["wide"] == [], found["wide"][:10]
    assert found["overlaps"] == [], found["overlaps"][:10]
    assert "{" not in found["text"] and "}" not in found["text"]
    if times:
        assert LABELLED_TIME.search(found["text"]), "no time labelled 北京时间"
    return found


@pytest.mark.slow
def test_index_and_round_page_read_well_on_a_phone(engine: sa.Engine, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish_realistic_site(engine, out)
    shots = tmp_path / "screens"
    shots.mkdir()
    with headless() as browser:
        context = phone(browser)
        page = context.new_page()

        page.goto((out / "index.html").as_uri())
        index = _measure(page, shots / "index.png")
        rounds_at = page.locator("table.rounds").bounding_box()
        chart_at = page.locator("figure").first.bounding_box()
        assert rounds_at and chart_at and rounds_at["y"] < chart_at["y"]  # rounds first
        counties = page.locator("#by-division")
        box = counties.bounding_box()
        assert box and box["height"] < 900, box  # compact, not one bar per county
        shown = counties.inner_text()
        order = [shown.index(name) for name in ("福州市", "厦门市", "泉州市", "漳州市")]
        assert order == sorted(order), shown  # GB/T 2260 code order
        assert RESULT_LABELS[ResultCategory.unreachable] in index["text"]

        page.goto((out / "rounds" / ROUND / "index.html").as_uri())
        text = _measure(page, shots / "round.png")["text"]
        assert "福州市 · A类" in text and "350100/A" not in text
        for category in ("ordered_to_rectify", "no_activity", "unreachable"):
            assert RESULT_LABELS[ResultCategory(category)] in text
            assert category not in text
        assert "张三" in text and "李四" in text  # who witnessed
        assert "定向检查：投诉举报" in text and "因投诉举报列明的企业 2 户" in text
        assert "如何自行核验" in text and "python3 -I -S verify.py ." in text
        glossary = page.locator('a[href="../../glossary.html#seed"]')
        assert glossary.count() >= 1

        page.goto((out / "rounds" / NEXT / "index.html").as_uri())
        _measure(page, shots / "committed.png")

        for other in ("glossary.html", "search.html", "data/index.html"):
            page.goto((out / other).as_uri())
            _measure(page, shots / other.replace("/", "-").replace(".html", ".png"), times=False)
        page.goto((out / "glossary.html").as_uri())
        assert page.locator("#seed").count() == 1
        page.goto((out / "data" / "index.html").as_uri())  # Excel turns an all-digit code into
        assert "“从文本/CSV”导入" in page.locator("main").inner_text()  # 9.13501E+17
        context.close()
    assert all((shots / n).stat().st_size > 1000 for n in ("index.png", "round.png"))


def run_in(bundle: Path) -> subprocess.CompletedProcess[str]:
    """verify.py as the page says to run it: in the bundle's folder, on '.'."""
    return subprocess.run(
        [sys.executable, "-I", "-S", "verify.py", "."],
        cwd=bundle,
        capture_output=True,
        text=True,
        check=False,
    )


def assert_quotes_output(page: str, stdout: str) -> None:
    """Each line the page quotes is a line verify.py printed, in the same order ('…' stands
    for lines left out; a line ending in '…' for the rest of a line)."""
    sample = re.search(r'<pre class="output">(.*?)</pre>', page, re.S)
    assert sample is not None
    quoted = [x for x in html.unescape(sample.group(1)).splitlines() if x != "…"]
    printed = stdout.splitlines()
    at = [
        next(i for i, p in enumerate(printed) if p == q or (q[-1] == "…" and p.startswith(q[:-1])))
        for q in quoted
    ]
    assert at == sorted(at) and at[-1] == len(printed) - 1 and len(quoted) >= 5, (quoted, printed)


def test_the_page_says_what_verify_prints(engine: sa.Engine, tmp_path: Path) -> None:
    """The command on the page, run in the downloaded bundle, prints what the page says."""
    out = tmp_path / "site"
    publish_realistic_site(engine, out)
    page = (out / "rounds" / ROUND / "index.html").read_text("utf-8")
    bundle = out / "rounds" / ROUND / "bundle"
    run = run_in(bundle)
    assert run.returncode == 0, run.stdout + run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last == "OK: the draw in . is reproduced exactly"
    assert_quotes_output(page, run.stdout)
    for name in ("verify.py", "MANIFEST.sha256", "selection.json", "entropy.json"):
        assert f'href="bundle/{name}"' in page, name
    assert_says_where_each_value_is(page, run.stdout, bundle, out / "rounds" / ROUND)
    site, _ = load_site(engine, get_settings())
    drawn = next(r for r in site.rounds if r.round_key == ROUND)
    large = render_round(site, dataclasses.replace(drawn, frame_size=12345))
    assert "frame: 12,345 enterprises" in large[f"rounds/{ROUND}/index.html"].decode("utf-8")


# where the commitment (commitment.json) holds what the bundle's round.json holds at a path
COMMITTED_AT = {"v": ["draw_version"], "meta.entropy_plan.sources": ["entropy_sources"]}


def assert_says_where_each_value_is(page: str, stdout: str, bundle: Path, folder: Path) -> None:
    """Each committed value the comparison table names is where it says: a line verify.py
    printed (each '…' standing for any text), and a field of round.json holding the value
    commitment.json holds."""
    table = re.search(r'<table class="list compare" id="compare">(.*?)</table>', page, re.S)
    assert table is not None, "no comparison table"
    hints = re.findall(r"<small[^>]*>(.*?)</small>", table.group(1), re.S)
    printed = stdout.splitlines()
    bundled = json.loads((bundle / "round.json").read_text("utf-8"))
    committed = json.loads((folder / "commitment.json").read_text("utf-8"))
    fields = []
    for hint in hints:
        found = dict(re.findall(r"(verify\.py|round\.json) [^<]*<code>(.*?)</code>", hint))
        assert found, hint
        if "verify.py" in found:
            line = html.unescape(found["verify.py"])
            pattern = ".*".join(map(re.escape, line.split("…")))
            assert any(re.fullmatch(pattern, p) for p in printed), (line, printed)
        if "round.json" in found:
            fields.append(found["round.json"])
            path = found["round.json"].split(".")
            there, here = bundled, committed
            for step in path:
                there = there[step]
            for step in COMMITTED_AT.get(found["round.json"], path):
                here = here[step]
            assert there == here, (path, there, here)
    assert {"commitments.plan_hash", "commitments.frame_commitment", "commitments.frame_root",
            "commitments.frame_size", "commitments.inspector_commitment",
            "meta.entropy_plan.sources"} <= set(fields)  # fmt: skip
    assert set(bundled["commitments"]) == {f.split(".")[1] for f in fields if "commitments" in f}


def test_a_round_not_yet_revealed_says_when_and_links_no_bundle(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Under ``after-window`` the page shows the commitment and the final results, says when
    the rest follows, and offers no bundle."""
    publish_realistic_site(engine, tmp_path / "site")
    site, _ = load_site(engine, get_settings())
    drawn = next(r for r in site.rounds if r.round_key == ROUND)
    hidden = dataclasses.replace(
        drawn,
        disclosure="after-window",
        revealed=False,
        bundled=False,
        reveal_on="2027-01-01",
        commitment_first_published="2026-11-30 09:00 北京时间",
        commitment_before_draw=True,
        published_commitment=drawn.commitment,
        results=[r for r in drawn.results if r.result],
    )
    page = render_round(site, hidden)[f"rounds/{ROUND}/index.html"].decode("utf-8")
    assert "<th>承诺时公布</th><th>抽取时所用</th><th>一致？</th>" in page  # no bundle yet
    assert "在检查时段结束后（2027-01-01）公布" in page
    assert "<dd>检查时段结束后（2027-01-01），与抽取名录和验证包一同公布" in page
    assert "本站首次公布于 2026-11-30 09:00 北京时间" in page
    assert drawn.frame_commitment in page and drawn.plan_hash in page
    assert 'href="bundle/' not in page and "verify.py ." not in page
    assert f"已作出结论的检查结果（{len(hidden.results)} 户）" in page
    pending = [r.credit_code for r in drawn.results if not r.result]
    assert pending and not any(code in page for code in pending)


def test_a_failed_round_page_says_what_verify_prints(engine: sa.Engine, tmp_path: Path) -> None:
    seed_registry(engine, inspectors=3)
    service.commit_round(engine=engine, plan_text=plan_yaml(size=4))
    with pytest.raises(InfeasibleDraw):
        service.draw_round(
            engine=engine,
            round_key=ROUND,
            entropy=service.EntropyInput(
                witness_digits="3141592653589793238462643", witnesses=("张三",)
            ),
        )
    publish(engine, tmp_path / "site")
    folder = tmp_path / "site" / "rounds" / ROUND
    run = run_in(folder / "bundle")
    assert run.returncode == 0, run.stdout + run.stderr
    page = (folder / "index.html").read_text("utf-8")
    assert_quotes_output(page, run.stdout)
    assert "recused for" not in page and "conflict" not in page  # not why it failed


def test_strata_rates_and_entropy_read_as_plain_chinese() -> None:
    assert explain.stratum_label("350100/A") == "福州市 · A类"
    assert explain.stratum_label("350200") == "厦门市" and explain.stratum_label("*") == "全部企业"
    assert explain.percent("1/10") == "10%" and explain.percent("12.5%") == "1/8（约 12.5%）"
    assert explain.rate_rows({"*": "5%", "B": "20%"}) == [
        ("B类", "信用风险一般", "20%"),
        ("其他类别", "", "5%"),
    ]
    rows = explain.entropy_rows(
        [{"source": "beacon", "round": 7, "randomness": "ab", "url": "https://drand.example"}]
    )
    assert rows[0][0] == "drand 公共随机信标" and "第 7 轮" in rows[0][1]
    groups = explain.by_prefecture(["350203", "350102", "350104", "350203"])
    assert [(g.name, g.total) for g in groups] == [("福州市", 2), ("厦门市", 2)]
    assert [c[1] for c in groups[0].counties] == ["鼓楼区", "仓山区"]
