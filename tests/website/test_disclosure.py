"""Disclosure per plan: an after-window round keeps its drawn list off the site and the partner
feed until its check window closes; then ``publish`` reveals it everywhere at once, and the
bundle verifies against the commitment published before the draw.

Every file of the site and every entry of the partner feed (served over loopback, read with a
partner's signed requests) is searched for every credit code of the frame."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from draw.errors import PlanError
from draw.plan import load_plan, plan_hash
from exchange import httpsig
from exchange.keys import BureauKey
from findings import service as findings
from findings.categories import ResultCategory
from findings.schemas import FindingIn
from rounds import disclosure, service
from rounds.bundle import run_verify_script
from rounds.models import Assignment, AuditEvent, Round
from shuangsui.errors import InfeasibleDraw
from tests.exchange.bureaus import Bureau, make_bureau, served, write_directory
from tests.rounds.factories import plan_yaml, seed_registry
from website.records import load_site
from website.site import publish

KEY = "ccc-2026-12"
DIGITS = "31415926535897932384626433"
BEIJING = dt.timezone(dt.timedelta(hours=8))
COMMITTED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=BEIJING)  # commitment published
DRAWN = dt.datetime(2026, 12, 2, 10, 0, tzinfo=BEIJING)  # the ceremony
DURING = dt.datetime(2026, 12, 20, 9, 0, tzinfo=BEIJING)  # checks under way
CLOSED = dt.datetime(2027, 1, 1, 0, 0, tzinfo=BEIJING)  # the window (to 12-31) has closed


@pytest.fixture
def fj(db_url: str, tmp_path: Path) -> Iterator[tuple[Bureau, BureauKey]]:
    """Our bureau on the test database, with Shanghai as its partner (who reads the feed)."""
    ours = make_bureau(tmp_path, "350000", db_url)
    partner = make_bureau(tmp_path, "310000")
    partner.base_url = "http://sh.example"
    write_directory(ours.home / "partners.toml", [partner])
    try:
        yield ours, partner.key
    finally:
        ours.engine.dispose()
        partner.engine.dispose()


def _feed(url: str, key: BureauKey) -> list[str]:
    """Every entry of the served feed, as a partner reads it (signed, page by page)."""
    out: list[str] = []
    path = "/exchange/v1/entries?start=0"
    while path:
        sig = httpsig.sign_request(key, "GET", url + path)
        resp = httpx.get(url + path, headers=sig, timeout=20)
        assert resp.status_code == 200, resp.text
        out += [e["entry"] for e in resp.json()["entries"]]
        link = resp.headers.get("link", "")
        path = link[1 : link.index(">")] if link else ""
    return out


def _site_text(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): p.read_bytes().decode("utf-8", "replace")
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def _leaks(texts: dict[str, str], codes: list[str]) -> list[tuple[str, str]]:
    return [(name, c) for name, text in texts.items() for c in codes if c in text]


def _draw_at(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, when: dt.datetime) -> None:
    monkeypatch.setattr(disclosure, "now", lambda: when.astimezone(dt.UTC))
    service.draw_round(
        engine=engine,
        round_key=KEY,
        entropy=service.EntropyInput(witness_digits=DIGITS, witnesses=("张三", "李四")),
    )


def _teams(engine: sa.Engine) -> dict[str, list[str]]:
    teams: dict[str, list[str]] = {}
    with Session(engine) as s:
        q = select(Assignment).order_by(Assignment.credit_code, Assignment.position)  # type: ignore[arg-type]
        for a in s.exec(q):
            teams.setdefault(a.credit_code, []).append(a.inspector_id)
    return teams


def _final(engine: sa.Engine, code: str, team: list[str]) -> None:
    data = FindingIn(result=ResultCategory.no_problem, check_date=dt.date(2026, 12, 9))
    v = findings.submit(engine, round_key=KEY, credit_code=code, data=data,
                        submitted_by=team[0], signers=[team[0]])  # fmt: skip
    for member in team[1:]:
        findings.sign_off(engine, round_key=KEY, credit_code=code, version=v.version,
                          inspector_id=member)  # fmt: skip


def _reveals(engine: sa.Engine) -> int:
    with Session(engine) as s:
        q = select(AuditEvent).where(AuditEvent.event == "RoundRevealed")  # type: ignore[arg-type]
        return len(s.exec(q).all())


def test_after_window_round_is_withheld_until_the_window_closes(
    fj: tuple[Bureau, BureauKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bureau, partner_key = fj
    engine, settings = bureau.engine, bureau.settings
    frame = seed_registry(engine)  # every enterprise is in the plan's population
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    out = tmp_path / "site"
    publish(engine, out, settings=settings, now=COMMITTED)
    commitment = (out / "rounds" / KEY / "commitment.json").read_bytes()

    _draw_at(engine, monkeypatch, DRAWN)
    teams = _teams(engine)
    checked = sorted(teams)[0]
    _final(engine, checked, teams[checked])
    report = publish(engine, out, settings=settings, now=DURING)
    assert report.revealed == [] and report.newly_published == 1

    with served(bureau) as url:
        feed = _feed(url, partner_key)
        texts = _site_text(out)
        hidden = [c for c in frame if c != checked]
        assert _leaks(texts, hidden) == []
        assert _leaks(dict(enumerate(feed)), hidden) == []  # type: ignore[arg-type]
        # the result already final is published on its own schedule, to both
        assert checked in texts[f"rounds/{KEY}/index.html"]
        assert checked in texts["data/results.json"] and checked in texts[f"data/{KEY}.csv"]
        assert [json.loads(e)["kind"] for e in feed] == ["result"]
        # the commitment and the ceremony's public facts are there
        drawn = service.get_round(engine, KEY)
        page = texts[f"rounds/{KEY}/index.html"]
        assert drawn.seed and drawn.seed in page and DIGITS in page
        assert rnd.frame_commitment in page
        assert texts[f"rounds/{KEY}/commitment.json"].encode() == commitment
        assert not (out / "rounds" / KEY / "bundle").exists()
        counts = json.loads(texts["data/rounds.json"])[0]
        assert counts["drawn"] == len(teams) and counts["revealed"] is False
        assert counts["reveal_on"] == "2027-01-01" and counts["disclosure"] == "after-window"
        assert drawn.revealed_at is None

        # the window closes: the next publish reveals everything, to site and partners
        report = publish(engine, out, settings=settings, now=CLOSED)
        assert report.revealed == [KEY]
        feed = _feed(url, partner_key)
    texts = _site_text(out)
    assert all(c in texts[f"rounds/{KEY}/index.html"] for c in teams)
    assert all(c in texts["data/search-index.json"] for c in teams)
    kinds = [json.loads(e)["kind"] for e in feed]
    assert kinds == ["result", "round"]
    record = json.loads(feed[1])["body"]
    assert record["selection"] == sorted(teams) and record["seed"] == drawn.seed
    with Session(engine) as s:
        row = s.get(Round, KEY)
        assert row is not None and row.revealed_at is not None
        assert row.revealed_at.replace(tzinfo=dt.UTC) == CLOSED.astimezone(dt.UTC)

    # the bundle verifies, against the commitment published before the draw
    bundle = out / "rounds" / KEY / "bundle"
    verdict = run_verify_script(bundle)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert (out / "rounds" / KEY / "commitment.json").read_bytes() == commitment
    before = json.loads(commitment)["commitments"]
    after = json.loads((bundle / "round.json").read_text("utf-8"))["commitments"]
    for field in ("plan_hash", "frame_commitment", "frame_root", "frame_size"):
        assert after[field] == before[field], field
    frame_rows = (bundle / "frame-enterprises.jsonl").read_text("utf-8").splitlines()
    assert sorted(json.loads(x)["credit_code"] for x in frame_rows) == sorted(frame)

    site, _ = load_site(engine, settings, now=CLOSED)
    shown = site.rounds[0]
    assert shown.revealed and shown.reveal_on == "2027-01-01"
    published_at = service.get_round(engine, KEY).commitment_published_at
    assert published_at is not None
    assert shown.commitment_first_published == "2026-12-01 09:00 北京时间"

    # once revealed, always: later publishes (and a clock read wrong) change nothing more
    publish(engine, out, settings=settings, now=CLOSED + dt.timedelta(days=3))
    publish(engine, out, settings=settings, now=DURING)
    assert all(c in (out / "rounds" / KEY / "index.html").read_text("utf-8") for c in teams)
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent.event)).all()  # type: ignore[call-overload]
    assert rows.count("RoundRevealed") == 1


def test_concurrent_publishes_reveal_once(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    _draw_at(engine, monkeypatch, DRAWN)
    publish(engine, tmp_path / "early", now=DURING)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            publish(engine, tmp_path / f"site{n}", now=CLOSED, bundles=False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT entry_id FROM exchange_entry")).scalars().all()
    assert rows == [f"round/{KEY}"]
    assert _reveals(engine) == 1


def test_on_draw_round_is_public_at_the_draw(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(extra="disclosure: on-draw"))
    _draw_at(engine, monkeypatch, DRAWN)
    with engine.connect() as conn:  # the partner feed has the round record from the draw on
        rows = conn.execute(sa.text("SELECT entry_id FROM exchange_entry")).scalars().all()
    assert rows == [f"round/{KEY}"] and _reveals(engine) == 1
    out = tmp_path / "site"
    report = publish(engine, out, now=DURING)
    assert report.revealed == []  # recorded at the draw already
    page = (out / "rounds" / KEY / "index.html").read_text("utf-8")
    assert all(c in page for c in _teams(engine))
    verdict = run_verify_script(out / "rounds" / KEY / "bundle")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert json.loads((out / "data" / "rounds.json").read_text("utf-8"))[0]["revealed"] is True


def test_a_failed_round_names_its_enterprise_only_when_revealed(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = seed_registry(engine, inspectors=3)
    service.commit_round(engine=engine, plan_text=plan_yaml(size=4))
    with pytest.raises(InfeasibleDraw):
        _draw_at(engine, monkeypatch, DRAWN)
    out = tmp_path / "site"
    publish(engine, out, now=DURING)
    assert _leaks(_site_text(out), frame) == []
    assert "检查时段结束后公开" in (out / "rounds" / KEY / "index.html").read_text("utf-8")
    report = publish(engine, out, now=CLOSED)
    assert report.revealed == [KEY]
    assert _leaks(_site_text(out), frame)  # the statement and the bundle name it now
    verdict = run_verify_script(out / "rounds" / KEY / "bundle")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_the_rule() -> None:
    end = dt.date(2026, 12, 31)
    rule = {"disclosure": "after-window", "window_end": end, "zone": "Asia/Shanghai"}
    just_before = dt.datetime(2026, 12, 31, 15, 59, 59, tzinfo=dt.UTC)
    assert not disclosure.is_revealed(**rule, status="drawn", now=just_before)  # type: ignore[arg-type]
    assert disclosure.is_revealed(**rule, status="drawn", now=CLOSED)  # type: ignore[arg-type]
    assert disclosure.is_revealed(**rule, status="closed", now=just_before)  # type: ignore[arg-type]
    assert disclosure.is_revealed(**rule, status="drawn", now=just_before, recorded=True)  # type: ignore[arg-type]
    on_draw = rule | {"disclosure": "on-draw"}
    assert disclosure.is_revealed(**on_draw, status="drawn", now=just_before)  # type: ignore[arg-type]
    assert disclosure.policy({}) == "after-window"


def test_the_plan_field_is_hashed_only_when_stated() -> None:
    plain = load_plan(plan_yaml())
    assert "disclosure" not in plain
    stated = load_plan(plan_yaml(extra="disclosure: after-window"))
    assert stated["disclosure"] == "after-window" and plan_hash(stated) != plan_hash(plain)
    for bad in ("disclosure: never", "disclosure: null", "disclosure: [on-draw]"):
        with pytest.raises(PlanError, match="^disclosure: "):
            load_plan(plan_yaml(extra=bad))
