"""The public site: what it shows, what it must never show, and that it is incremental."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.models import Inspector
from rounds.bundle import run_verify_script
from tests.browser import command
from tests.findings.factories import ROUND, drawn_round, final_finding
from website.site import publish

NOTE = "内部备注：请勿公开-7731"


def _site(engine: sa.Engine, out: Path) -> dict[str, list[str]]:
    teams = drawn_round(engine)
    codes = sorted(teams)
    final_finding(engine, codes[0], teams[codes[0]], internal_note=NOTE)
    final_finding(
        engine,
        codes[1],
        teams[codes[1]],
        result="ordered_to_rectify",
        measures=[{"kind": "rectify", "deadline": "2027-01-15"}],
    )
    publish(engine, out)
    return teams


def test_site_shows_the_round_and_nothing_personal(engine: sa.Engine, tmp_path: Path) -> None:
    out = tmp_path / "site"
    teams = _site(engine, out)
    codes = sorted(teams)
    page = (out / "rounds" / ROUND / "index.html").read_text("utf-8")
    for code in codes:
        assert code in page
    assert "未发现问题" in page and "责令限期改正（2027-01-15前）" in page
    assert "国市监信〔2019〕38号" in page and "结果待公示" in page
    csv_bytes = (out / "data" / "results.csv").read_bytes()
    assert csv_bytes.startswith(b"\xef\xbb\xbf") and codes[0].encode() in csv_bytes
    rows = json.loads((out / "data" / f"{ROUND}.json").read_text("utf-8"))
    assert {r["credit_code"] for r in rows} == set(codes)
    catalog = json.loads((out / "catalog.jsonld").read_text("utf-8"))
    assert catalog["@type"] == "dcat:Catalog" and len(catalog["dcat:dataset"]) == 2
    assert "<svg" in (out / "index.html").read_text("utf-8")
    verdict = run_verify_script(out / "rounds" / ROUND / "bundle")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    # no inspector contact data, no internal notes, anywhere in the output
    with Session(engine) as s:
        inspectors = s.exec(select(Inspector)).all()
    secrets = (
        [NOTE]
        + [i.email for i in inspectors if i.email]
        + [i.webhook_url for i in inspectors if i.webhook_url]
        + [i.name for i in inspectors]
    )
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            for secret in secrets:
                assert secret not in text, (secret, path)


def test_republishing_rewrites_only_what_changed(engine: sa.Engine, tmp_path: Path) -> None:
    out = tmp_path / "site"
    teams = _site(engine, out)
    again = publish(engine, out)
    assert again.written == [] and again.newly_published == 0
    code = sorted(teams)[2]
    final_finding(engine, code, teams[code], result="other")
    third = publish(engine, out)
    assert set(third.written) <= {
        f"rounds/{ROUND}/index.html",
        f"data/{ROUND}.csv",
        f"data/{ROUND}.json",
        "index.html",
        "data/results.csv",
        "data/results.json",
        "data/search-index.json",
        "data/rounds.json",
        "search.html",
        "data/index.html",
        "catalog.jsonld",
    }
    assert f"rounds/{ROUND}/index.html" in third.written and "data/results.csv" in third.written
    assert not any("bundle" in p for p in third.written)
    assert third.newly_published == 1


@pytest.mark.slow
def test_round_page_in_headless_chromium(engine: sa.Engine, tmp_path: Path) -> None:
    base = command(
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    )
    out = tmp_path / "site"
    teams = _site(engine, out)
    page = (out / "rounds" / ROUND / "index.html").resolve().as_uri()
    dom = subprocess.run(
        base + ["--dump-dom", page], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    for code in teams:
        assert code in dom
    assert "未发现问题" in dom and "发现问题，依法责令立即改正或者限期改正" in dom
    shot = tmp_path / "round-phone.png"
    subprocess.run(
        base + [f"--screenshot={shot}", "--window-size=390,844", page],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.is_file() and shot.stat().st_size > 1000
