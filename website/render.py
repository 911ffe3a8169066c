"""Pure rendering: the public model in, ``{relative path: bytes}`` out. No I/O but templates."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable
from functools import cache
from importlib import resources

import jinja2

from rounds import notice
from shuangsui.clock import local_label
from website import opendata
from website.charts import bar_chart
from website.model import PublicResult, PublicRound, Site

Files = dict[str, bytes]


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
    return env


def _page(template: str, **ctx: object) -> bytes:
    return _env().get_template(template).render(**ctx).encode("utf-8")


def _result_bars(results: Iterable[PublicResult]) -> list[tuple[str, int]]:
    counts = Counter(r.result_label or "结果待公示" for r in results)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _division_bars(results: Iterable[PublicResult]) -> list[tuple[str, int]]:
    counts = Counter(r.division_name or r.division_code or "未知" for r in results if r.result)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


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
        rates=notice.rate_rows(doc["rates"]),
        committed_label=local_label(dt.datetime.fromisoformat(doc["committed_at"])),
        ceremony=notice.ceremony_time(doc),
        first_published=first_published,
        before_draw=before_draw,
    )
    return {json_path: notice.commitment_bytes(doc), html_path: page}


def render_round(site: Site, rnd: PublicRound) -> Files:
    """The round's page and its open data."""
    groups: dict[str, list[PublicResult]] = {}
    for r in rnd.results:
        groups.setdefault(f"{r.division_name} {r.division_code}".strip() or "未知", []).append(r)
    page = _page(
        "round.html.j2",
        site=site,
        r=rnd,
        root="../../",
        plan_json=json.dumps(rnd.plan, ensure_ascii=False, indent=1, sort_keys=True),
        entropy_json=json.dumps(rnd.entropy, ensure_ascii=False, indent=1, sort_keys=True),
        by_division=sorted(groups.items()),
        chart_results=bar_chart("结果分类", _result_bars(rnd.results)),
    )
    html, csv_path, json_path = round_paths(rnd.round_key)
    return {
        html: page,
        csv_path: opendata.results_csv(rnd.results),
        json_path: opendata.results_json(rnd.results),
    }


def render_aggregates(site: Site) -> Files:
    """Index, search, open-data pages and the files that span every round (not the catalogue,
    which describes the finished file set: see :func:`render_catalog`)."""
    results = [r for rnd in site.rounds for r in rnd.results]
    index = [[r.round_key, r.credit_code, r.name, r.result_label] for r in results]
    rounds_json = [opendata.round_json(rnd) for rnd in site.rounds]
    return {
        "index.html": _page(
            "index.html.j2",
            site=site,
            root="",
            total_drawn=len(results),
            total_published=sum(1 for r in results if r.result),
            chart_results=bar_chart("结果分类", _result_bars(results)),
            chart_divisions=bar_chart("按行政区划", _division_bars(results)),
        ),
        "search.html": _page("search.html.j2", site=site, root=""),
        "data/index.html": _page("data.html.j2", site=site, root="../"),
        "data/search-index.json": json.dumps(
            index, ensure_ascii=False, separators=(",", ":")
        ).encode(),
        "data/results.csv": opendata.results_csv(results),
        "data/results.json": opendata.results_json(results),
        "data/rounds.json": (
            json.dumps(rounds_json, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        ).encode(),
        "static/site.css": resources.files("website").joinpath("static/site.css").read_bytes(),
    }


def render_catalog(site: Site, files: dict[str, tuple[str, int]]) -> Files:
    return {"catalog.jsonld": opendata.catalog(site, files)}
