"""Pure rendering: the public model in, ``{relative path: bytes}`` out. No I/O but templates."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup, escape

from draw.bundle import PUBLIC_BUNDLE_FILES
from registry.divisions import prefecture_of
from rounds import notice
from shuangsui.clock import local_label
from shuangsui.text import INVISIBLE, SEPARATORS
from website import areas, explain, opendata
from website.charts import bar_chart, division_chart
from website.compare import compare
from website.fragments import ROW_START, Pieces
from website.glossary import BY_KEY, TERMS
from website.model import PublicResult, PublicRound, Site
from website.opendata import Piece
from website.parts import PENDING, RoundPart, part_of

Files = dict[str, bytes | list[Piece]]  # a file whole or in pieces (website.opendata)
SEARCH_LIMIT = 200  # the search page lists at most this many enterprises, and says so
# what the search page drops from a query, as a JavaScript character class: the invisible
# characters no name or code holds (shuangsui.text), pasted with one from a chat or a document;
# the line separators among them are spaces to it, parting words
SEARCH_DROPS = "".join(
    c if c == "-" else f"\\u{ord(c):04x}" for c in INVISIBLE if c not in SEPARATORS
)


def beijing(moment: str | dt.datetime | None) -> str:
    """A stored time (UTC; ISO text or datetime) as people read it: '2026-12-01 02:10 北京时间'."""
    if not moment:
        return ""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return local_label(moment)


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("website", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["beijing"] = beijing
    env.filters["stratum"] = explain.stratum_label
    env.globals["term"] = term
    env.globals["csv_columns"] = ",".join(opendata.CSV_COLUMNS)  # a round page's list check
    return env


@jinja2.pass_context
def term(ctx: jinja2.runtime.Context, key: str, text: str = "") -> Markup:
    """A technical term linked to its entry in the glossary (``glossary.html#key``)."""
    entry = BY_KEY[key]
    return Markup('<a class="term" href="{}glossary.html#{}">{}</a>').format(
        ctx.get("root", ""), key, text or entry.name
    )


def _page(template: str, **ctx: object) -> bytes:
    return _env().get_template(template).render(**ctx).encode("utf-8")


def _result_bars(labels: Mapping[str, int]) -> list[tuple[str, int]]:
    """Results by category (Chinese labels), most frequent first, those still to come last."""
    return sorted(labels.items(), key=lambda kv: (kv[0] == PENDING, -kv[1], kv[0]))


def _counties(results: Sequence[PublicResult]) -> list[tuple[str, str, list[int]]]:
    """The round's enterprises by county, in GB/T 2260 code order, as positions in
    ``results``: ('350102', '鼓楼区（福州市）', [0, 7, ...])."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(results):
        groups.setdefault(r.division_code, []).append(i)
    out = []
    for code, members in sorted(groups.items()):
        name = results[members[0]].division_name or explain.division_name(code)
        top = explain.division_name(prefecture_of(code)) if len(code) == 6 else ""
        label = f"{name}（{top}）" if top and top != name else name
        out.append((code, label or "地区不详", members))
    return out


def page_groups(results: Sequence[PublicResult]) -> list[list[int]]:
    """The positions of ``results`` by county, as the round page lists them."""
    return [members for _, _, members in _counties(results)]


def _by_county(
    results: Sequence[PublicResult], rows: Sequence[str]
) -> list[tuple[str, str, int, Markup]]:
    """The page's groups: (county code, county, how many enterprises, their rows' markup)."""
    return [
        (code, label, len(members), Markup("".join(rows[i] for i in members)))
        for code, label, members in _counties(results)
    ]


def escaped(texts: Sequence[str]) -> list[str]:
    """Each of ``texts`` as a template shows it (``markupsafe.escape``, as the templates'
    autoescape does), in one call for them all: joined by NUL, escaped and cut again (escaping
    leaves a NUL as it is; when a text holds one, each is escaped alone). A call a cell, seven
    a row, was most of the time of a round page's rows."""
    parts = str(escape("\0".join(texts))).split("\0")
    return parts if len(parts) == len(texts) else [str(escape(text)) for text in texts]


PENDING_CELL = f'<span class="pending">{PENDING}</span>'  # the result of a firm with none yet


def _history(r: PublicResult) -> str:
    """A corrected result's history, in its result cell (the few results with one)."""
    items = "".join(f"<li>{escape(opendata.correction_text(c))}</li>" for c in r.history)
    return (
        f'<details class="history"><summary>已更正（第 {escape(r.version)} 版）</summary>'
        f"<ol>{items}</ol></details>"
    )


def page_rows(results: Sequence[PublicResult], causes: Mapping[str, str]) -> list[str]:
    """The row of each of ``results`` on the round page (``causes``: why each targeted firm
    was chosen), each beginning ``ROW_START``: its texts escaped a column at a time
    (:func:`escaped`), the markup around them written here. (A template escaped each cell
    apart: 85 ms of 20,000 rows against 21.)"""
    codes = escaped([r.credit_code for r in results])
    names = escaped([r.name for r in results])
    hows = escaped([f"定向检查：{causes.get(r.credit_code, '')}" if r.selection == "targeted"
                    else "随机抽取" for r in results])  # fmt: skip
    days = escaped([r.check_date or "—" for r in results])
    labels = escaped([r.result_label if r.result else "" for r in results])
    certificates = escaped([r.certificates_text for r in results])
    measures = escaped([r.measures_text for r in results])
    rows = []
    for r, code, name, how, day, label, held, measure in zip(
        results, codes, names, hows, days, labels, certificates, measures, strict=True
    ):
        result = label or PENDING_CELL
        if label and held:
            result += f"<br><small>{held}</small>"
        if label and r.history:
            result += _history(r)
        last = f">{measure}" if measure else ' class="none">—'
        rows.append(
            f'{ROW_START}{code}">\n<td data-label="企业名称" class="name">{name}</td>\n'
            f'<td data-label="信用代码"><code>{code}</code></td>\n'
            f'<td data-label="抽取方式" class="half">{how}</td>\n'
            f'<td data-label="检查日期" class="half">{day}</td>\n'
            f'<td data-label="检查结果">{result}</td>\n'
            f'<td data-label="处理措施"{last}</td>\n</tr>\n'
        )
    return rows


def round_pieces(
    rnd: PublicRound, kept: Mapping[str, tuple[str, str]], records: list[str] | None = None
) -> Pieces:
    """The round's results' pieces of its files (``website.fragments``): a result whose JSON
    record is in ``kept`` (the last publish's, by record) has its CSV row and page row from
    there; the others' are encoded and rendered, in one pass. ``records``: the results' JSON
    records, when the caller has them (``website.fragments.completed``)."""
    records = records or opendata.record_texts(rnd.results)
    if not kept:  # (a round's first publish, or one after a change of this program)
        causes = explain.targeted_causes(rnd.plan, rnd.results)
        return Pieces(records, opendata.csv_lines(rnd.results), page_rows(rnd.results, causes))
    fresh = [i for i, record in enumerate(records) if record not in kept]
    new = [rnd.results[i] for i in fresh]
    causes = explain.targeted_causes(rnd.plan, new)
    lines_and_rows = zip(opendata.csv_lines(new), page_rows(new, causes), strict=True)
    made = dict(zip(fresh, lines_and_rows, strict=True))
    lines, rows = [], []
    for i, record in enumerate(records):
        line, row = made[i] if i in made else kept[record]
        lines.append(line)
        rows.append(row)
    return Pieces(records, lines, rows)


def _verify_sample(rnd: PublicRound) -> list[str]:
    """The lines of verify.py's output the page quotes ('…' for lines left out, and at the end
    of a line for the rest of it)."""
    head = [
        f"bundle: draw version {rnd.commitment.get('draw_version', 1)}, public bundle",
        f"plan hash ok ({rnd.plan_hash})",
        f"frame: {rnd.frame_size:,} enterprises, commitment ok, Merkle root ok",
        "…",
        f"seed ok ({rnd.seed})" if rnd.seed else "seed ok (…",
        "…",
    ]
    if rnd.status == "failed":
        return [
            *head,
            "failure ok: the recomputed draw fails exactly as failure.json states",
            "…",
            "OK: confirmed: the round fails: …",
        ]
    return [
        *head,
        f"selection: {len(rnd.results)} enterprises ok",
        "…",
        "OK: the draw in . is reproduced exactly",
    ]


BUNDLE_FILE_LABELS = {
    "MANIFEST.sha256": "文件清单（各文件的哈希值）",
    "plan.json": "抽查计划",
    "frame-enterprises.jsonl": "企业抽取名录",
    "frame-inspectors-public.jsonl": "检查人员名录（化名）",
    "recused-public.json": "回避关系（化名）",
    "entropy.json": "随机数记录",
    "round.json": "本轮承诺值和各层户数",
    "selection.json": "抽取结果",
    "teams.json": "检查组（化名）",
    "replacements.json": "抽取后更换的检查组成员（化名）",
    "verify.py": "核验程序",
}


def _bundle_files(rnd: PublicRound) -> list[tuple[str, str]]:
    """(file name, what it holds) of the round's public bundle, the manifest first.

    A failed round's page names only the manifest, the failure and the program: the reader
    fetches the rest as the manifest lists them, and the page says nothing of recusals."""
    if rnd.status == "failed":
        names = ["MANIFEST.sha256", "failure.json", "verify.py"]
    else:
        names = ["MANIFEST.sha256", *PUBLIC_BUNDLE_FILES]
        if rnd.replaced:  # docs/draw-algorithm.md §14: listed right after teams.json
            names.insert(names.index("teams.json") + 1, "replacements.json")
    return [(n, BUNDLE_FILE_LABELS.get(n, "失败说明")) for n in names]


def round_paths(round_key: str) -> tuple[str, ...]:
    return (f"rounds/{round_key}/index.html", f"data/{round_key}.csv", f"data/{round_key}.json")


def commitment_paths(round_key: str) -> tuple[str, str]:
    """The commitment as published before the draw: written once, never rewritten."""
    return (f"rounds/{round_key}/commitment.json", f"rounds/{round_key}/commitment.html")


def render_commitment(
    site: Site, rnd: PublicRound, first_published: str, *, before_draw: bool = True
) -> Files:
    """The commitment file (canonical JSON) and its page, which says when it first appeared."""
    doc = rnd.commitment
    json_path, html_path = commitment_paths(rnd.round_key)
    page = _page(
        "commitment.html.j2",
        site=site,
        r=rnd,
        root="../../",
        c=doc,
        sources=[notice.describe_source(x) for x in doc["entropy_sources"]],
        rates=[(f"{c}（{m}）" if m else c, r) for c, m, r in explain.rate_rows(doc["rates"])],
        committed_label=local_label(dt.datetime.fromisoformat(doc["committed_at"])),
        ceremony=notice.ceremony_time(doc),
        first_published=first_published,
        before_draw=before_draw,
    )
    return {json_path: notice.commitment_bytes(doc), html_path: page}


def render_round(
    site: Site, rnd: PublicRound, part: RoundPart | None = None, pieces: Pieces | None = None
) -> Files:
    """The round's page, which explains the draw, and its open data (``pieces``: the round's
    :func:`round_pieces`, and ``part`` its :func:`website.parts.part_of`, when the caller has
    them already)."""
    pieces = pieces or round_pieces(rnd, {})
    part = part or part_of(rnd, pieces)
    # what the page says was committed: the commitment as this site first published it
    doc = rnd.commitment if rnd.published_commitment is None else rnd.published_commitment
    compared = compare(doc, rnd.commitment, rnd.entropy)
    strata = rnd.plan.get("strata", {})
    page = _page(
        "round.html.j2",
        site=site,
        r=rnd,
        root="../../",
        c=doc,
        compared=compared,
        differing=[row.label for row in compared if not row.same],
        committed_label=beijing(doc.get("committed_at")),
        ceremony=notice.ceremony_time(doc) if doc.get("entropy_sources") else "",
        sources=[notice.describe_source(x) for x in doc.get("entropy_sources", [])],
        rates=explain.rate_rows(strata.get("rates", {})),
        min_per_stratum=strata.get("min_per_stratum", 0),
        total_cap=strata.get("total_cap"),
        exclusion_months=rnd.plan.get("exclusions", {}).get("window_months", 0),
        team_size=rnd.plan.get("teams", {}).get("size", 0),
        strata=explain.strata_rows(rnd.counts),
        entropy=explain.entropy_rows(rnd.entropy),
        witnesses=explain.witnesses(rnd.entropy),
        targeted_rules=explain.targeted_rules(rnd.plan),
        by_division=_by_county(rnd.results, pieces.page_rows),
        chart_results=bar_chart("结果分类", _result_bars(part.labels)),
        bundle_files=_bundle_files(rnd) if rnd.bundled else [],
        verify_sample=_verify_sample(rnd),
    )
    html, csv_path, json_path = round_paths(rnd.round_key)
    return {
        html: page,
        csv_path: opendata.csv_file([part.csv_rows]),
        json_path: opendata.json_file([part.json_records]),
    }


def render_aggregates(site: Site, parts: Mapping[str, RoundPart]) -> Files:
    """Index, search, open-data pages and the files that span every round (not the catalogue,
    which describes the finished file set: see :func:`render_catalog`), from each round's
    head (``site.rounds``) and its part (``parts[round_key]``): no result is read here."""
    shares = [parts[rnd.round_key] for rnd in site.rounds]
    labels: Counter[str] = Counter()
    divisions: Counter[str] = Counter()
    for part in shares:
        labels.update(part.labels)
        divisions.update(part.divisions)
    rounds_json = [
        opendata.round_json(r, p.shown, p.published)
        for r, p in zip(site.rounds, shares, strict=True)
    ]
    return {
        "index.html": _page(
            "index.html.j2",
            site=site,
            root="",
            parts=parts,
            total_drawn=sum(p.shown for p in shares),
            total_published=sum(p.published for p in shares),
            chart_results=bar_chart("结果分类", _result_bars(labels)),
            chart_divisions=division_chart(
                "按行政区划", explain.by_prefecture(divisions.elements())
            ),
            committed={r.round_key: beijing(r.commitment.get("committed_at")) for r in site.rounds},
        ),
        "glossary.html": _page("glossary.html.j2", site=site, root="", terms=TERMS),
        "search.html": _page(
            "search.html.j2",
            site=site,
            root="",
            parts=parts,
            limit=SEARCH_LIMIT,
            drops=SEARCH_DROPS,
            areas=areas.by_prefecture(
                (
                    (r.round_key, r.drawn_at, p.divisions)
                    for r, p in zip(site.rounds, shares, strict=True)
                ),
                bureau_code=site.bureau_code,
            ),
        ),
        "data/index.html": _page("data.html.j2", site=site, root="../"),
        "data/search-index.json": opendata.search_index(p.search_entries for p in shares),
        "data/results.csv": opendata.csv_file(p.csv_rows for p in shares),
        "data/results.json": opendata.json_file(p.json_records for p in shares),
        "data/rounds.json": (
            json.dumps(rounds_json, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        ).encode(),
        "static/site.css": resources.files("website").joinpath("static/site.css").read_bytes(),
    }


def render_catalog(site: Site, files: dict[str, tuple[str, int]]) -> Files:
    return {"catalog.jsonld": opendata.catalog(site, files)}
