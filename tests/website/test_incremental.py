"""Incremental publishing (website/inputs.py, website/parts.py): whatever changed, a publish
that reads and renders only the rounds whose inputs changed leaves the same site, byte for
byte, as a publish into an empty folder; with nothing changed it reads no result and writes
nothing; a kept file that is not what the manifest lists is never joined into the site."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from findings import service as findings
from findings.integrity import Stored, recomputed_hash
from registry.export import export_kind
from registry.importer import import_file
from rounds import disclosure, service
from shuangsui.config import Settings, get_settings
from shuangsui.db import session_scope
from tests.findings.factories import ROUND, drawn_round, final_finding, finding
from tests.rounds.factories import plan_yaml
from website.parts import FOLDER
from website.site import MANIFEST, STATE, PublishReport, publish

NEXT = "ccc-2027-01"
BEIJING = dt.timezone(dt.timedelta(hours=8))
DURING = dt.datetime(2026, 12, 20, 9, 0, tzinfo=BEIJING)  # the window runs to 12-31
CLOSED = dt.datetime(2027, 1, 1, 0, 0, tzinfo=BEIJING)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _first_difference(name: str, ours: bytes, full: bytes) -> str:
    pairs = zip(ours.decode("utf-8", "replace").splitlines(),
                full.decode("utf-8", "replace").splitlines(), strict=False)  # fmt: skip
    at, a, b = next(((i, x, y) for i, (x, y) in enumerate(pairs) if x != y), (0, "", ""))
    context = full.decode("utf-8", "replace").splitlines()[max(0, at - 3) : at]
    a, b = "\n  ".join([*context, a]), "\n  ".join([*context, b])
    return f"{name}: incremental has\n  {a[:300]}\na full publish has\n  {b[:300]}"


class Site:
    """One output folder, published again after each change and compared with a publish of
    the same database into an empty folder."""

    def __init__(self, engine: sa.Engine, tmp_path: Path):
        self.engine, self.tmp, self.out, self.clean_runs = engine, tmp_path, tmp_path / "site", 0

    def publish(self, settings: Settings | None = None, **kw: object) -> PublishReport:
        report = publish(self.engine, self.out, settings=settings or get_settings(), **kw)  # type: ignore[arg-type]
        if settings is not None:  # the commitment pages, never rewritten, keep the old ones
            return report
        self.clean_runs += 1
        clean = self.tmp / f"clean-{self.clean_runs}"
        publish(self.engine, clean, settings=settings or get_settings(), **kw)  # type: ignore[arg-type]
        ours, full = _tree(self.out), _tree(clean)
        assert sorted(ours) == sorted(full)
        for name, data in full.items():
            assert ours[name] == data, _first_difference(name, ours[name], data)
        return report


def _two_rounds(engine: sa.Engine) -> tuple[dict, list[str]]:
    """The drawn round with one final finding, and the next round committed."""
    teams = drawn_round(engine)
    codes = sorted(teams)
    final_finding(engine, codes[0], teams[codes[0]])
    service.commit_round(engine=engine, plan_text=plan_yaml(plan_id=NEXT, period="2027-01"))
    return teams, codes


def test_each_change_reaches_the_site_as_a_full_publish_would(
    engine: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    first = site.publish()
    assert sorted(first.reread) == [ROUND, NEXT] and first.newly_published == 1

    with caplog.at_level(logging.INFO, logger="website"):
        again = publish(engine, site.out)
    assert again.written == [] and again.reread == [] and again.newly_published == 0
    assert "nothing changed" in caplog.text and "read again" not in caplog.text
    assert again.results == first.results

    # a new final result: its round is read again, the other round is not
    final_finding(engine, codes[1], teams[codes[1]], result="unreachable")
    report = site.publish()
    assert report.reread == [ROUND] and report.newly_published == 1
    assert f"rounds/{NEXT}/index.html" not in report.written
    assert "无法联系" in (site.out / "data" / "results.csv").read_text("utf-8-sig")

    # a version submitted, not yet signed by the whole team: read again, nothing shown
    v = findings.submit(engine, round_key=ROUND, credit_code=codes[2], data=finding("other"),
                        submitted_by=f"inspector:{teams[codes[2]][0]}",
                        signers=[teams[codes[2]][0]])  # fmt: skip
    report = site.publish()
    assert report.reread == [ROUND] and report.written == [] and report.newly_published == 0
    # ... and signed: now it is
    for member in teams[codes[2]][1:]:
        findings.sign_off(engine, round_key=ROUND, credit_code=codes[2], version=v.version,
                          inspector_id=member)  # fmt: skip
    assert site.publish().newly_published == 1

    # a correction (a new version of a published result)
    final_finding(engine, codes[0], teams[codes[0]], result="other", reason="更正：笔误")
    report = site.publish()
    assert report.reread == [ROUND] and report.newly_published == 1
    assert "更正：笔误" in (site.out / "data" / "results.json").read_text("utf-8")

    # an enterprise renamed by a registry import: every round is read again
    registry = tmp_path / "enterprises.csv"
    with session_scope(engine) as session:
        export_kind(session=session, kind="enterprises", out=registry)
    text = registry.read_text("utf-8-sig")
    line = next(x for x in text.splitlines() if x.startswith(codes[1]))
    old_name = line.split(",")[1]
    registry.write_text(text.replace(old_name, "更名后的测试有限公司"), "utf-8-sig")
    with session_scope(engine) as session:
        import_file(session=session, kind="enterprises", path=registry)
    report = site.publish()
    assert sorted(report.reread) == [ROUND, NEXT]
    page = (site.out / "rounds" / ROUND / "index.html").read_text("utf-8")
    assert "更名后的测试有限公司" in page and old_name not in page

    # the settings the pages show
    renamed = get_settings().model_copy(update={"bureau_name": "某某市场监督管理局"})
    report = site.publish(settings=renamed)
    assert sorted(report.reread) == [ROUND, NEXT] and "index.html" in report.written
    assert "某某市场监督管理局" in (site.out / "index.html").read_text("utf-8")


def test_a_file_not_as_the_manifest_lists_is_not_kept(
    engine: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()

    # a page gone from the folder: nothing is skipped, the page is written again
    (site.out / "rounds" / NEXT / "index.html").unlink()
    report = site.publish()
    assert f"rounds/{NEXT}/index.html" in report.written

    # a round's data file changed on disk, then a change in another round: the changed file
    # is not joined into results.json, its round is read again
    data = site.out / "data" / f"{ROUND}.json"
    data.write_bytes(data.read_bytes().replace(codes[0].encode(), b"91350000FORGED0001"))
    kept = site.out / FOLDER / f"{NEXT}.json"
    kept.write_bytes(kept.read_bytes().replace(b'"shown":', b'"shown":1'))
    service.draw_round(engine=engine, round_key=NEXT, entropy=service.EntropyInput(
        witness_digits="2718281828459045235360287", witnesses=("李四",)))  # fmt: skip
    caplog.clear()
    report = site.publish()
    assert sorted(report.reread) == [ROUND, NEXT]
    assert f"round {ROUND}: its kept part is unusable" in caplog.text
    assert b"FORGED" not in (site.out / "data" / "results.json").read_bytes()

    # a state that does not vouch for the manifest (a run killed after writing it): the
    # next publish reads every round
    (site.out / MANIFEST).write_bytes((site.out / MANIFEST).read_bytes() + b"\n")
    report = site.publish()
    assert sorted(report.reread) == [ROUND, NEXT] and report.written == []


def test_a_round_read_again_with_the_same_content_rewrites_a_changed_data_file(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """The files spanning every round are written from the rounds' own data files: a round
    read again whose content has not changed still has its data files checked against the
    manifest, and one changed on disk is written again, never joined as it is."""
    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    data = site.out / "data" / f"{ROUND}.csv"
    data.write_bytes(data.read_bytes().replace(codes[0].encode(), b"91350000FORGED0001"))
    # a state that does not vouch for the manifest (a run killed after writing it): every
    # round is read again, none of them with new content
    (site.out / MANIFEST).write_bytes((site.out / MANIFEST).read_bytes() + b"\n")
    report = site.publish()  # the same tree as a publish into an empty folder
    assert ROUND in report.reread and f"data/{ROUND}.csv" in report.written
    assert b"FORGED" not in (site.out / "data" / "results.csv").read_bytes()


def test_the_window_closing_alone_reveals_the_round(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in the database changes; the clock passes the end of the check window."""
    monkeypatch.setattr(disclosure, "now", lambda: DURING.astimezone(dt.UTC))
    teams = drawn_round(engine)  # drawn during its window: not revealed at the draw
    codes = sorted(teams)
    final_finding(engine, codes[0], teams[codes[0]])
    site = Site(engine, tmp_path)
    site.publish(now=DURING)
    assert publish(engine, site.out, now=DURING).written == []
    hidden = (site.out / "data" / "search-index.json").read_text("utf-8")
    assert codes[0] in hidden and codes[1] not in hidden

    report = site.publish(now=CLOSED)
    assert report.revealed == [ROUND] and report.reread == [ROUND]
    shown = json.loads((site.out / "data" / "search-index.json").read_text("utf-8"))
    assert sorted(row[1] for row in shown) == codes


def test_what_was_not_recorded_is_recorded_by_the_next_publish(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = drawn_round(engine)
    codes = sorted(teams)
    final_finding(engine, codes[0], teams[codes[0]])
    out = tmp_path / "site"
    assert publish(engine, out, record=False).newly_published == 0
    assert json.loads((out / STATE).read_bytes())["recorded"] is False
    report = publish(engine, out)
    assert report.newly_published == 1 and report.reread == [ROUND]
    assert publish(engine, out).reread == []


def test_rounds_read_in_runs_of_any_size_make_the_same_site(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish reads the rounds it renders in runs bounded by their drawn enterprises
    (``READ_BATCH``), holding one run's results at a time: a run per round, or one for all,
    gives the same site byte for byte and records the same versions as published."""
    from website import records, site

    _, codes = _two_rounds(engine)
    with engine.connect() as conn:
        drawn = conn.execute(
            sa.text("SELECT count(*) FROM selection WHERE round_key = :k"), {"k": ROUND}
        ).scalar_one()
        keys = [ROUND, NEXT]  # the drawn round, then the committed one (nothing drawn yet)
        assert records.read_batches(conn, keys, drawn) == [keys]
        assert records.read_batches(conn, keys, drawn - 1) == [[ROUND], [NEXT]]
        assert records.read_batches(conn, [], drawn) == []
    trees, recorded = [], []
    for size in (site.READ_BATCH, 1):
        monkeypatch.setattr(site, "READ_BATCH", size)
        report = publish(engine, tmp_path / f"run-{size}", settings=get_settings(), record=False)
        assert report.reread == [ROUND, NEXT]
        trees.append(_tree(tmp_path / f"run-{size}"))
    assert trees[0] == trees[1]
    monkeypatch.setattr(site, "READ_BATCH", 1)
    assert publish(engine, tmp_path / "recorded", settings=get_settings()).newly_published == 1
    with engine.connect() as conn:
        recorded = conn.execute(sa.text("SELECT count(*) FROM published_result")).scalar_one()
    assert recorded == 1  # the one final finding, of the first run (codes[0])
    assert codes


def _repair(conn: sa.Connection, version: int, description: str) -> None:
    """A repair by hand in the database: a version's description rewritten, and its content
    hash computed again (with its hash left as it was, the publish refuses the version:
    ``test_publish_refusal.py``; ``findings verify`` names it either way, from the log)."""
    conn.execute(
        sa.text("UPDATE finding_version SET description = :text WHERE id = :id"),
        {"text": description, "id": version},
    )
    row = conn.execute(  # as findings.integrity reads it: every column as its text
        sa.text(
            "SELECT CAST(result AS TEXT), CAST(check_date AS TEXT), description, "
            "CAST(certificates AS TEXT), CAST(measures AS TEXT), CAST(evidence AS TEXT), "
            "internal_note FROM finding_version WHERE id = :id"
        ),
        {"id": version},
    ).one()
    digest = recomputed_hash(Stored("", "", "", *row))
    conn.execute(
        sa.text("UPDATE finding_version SET content_hash = :h WHERE id = :id"),
        {"h": digest, "id": version},
    )


def test_a_write_in_place_to_a_finding_reaches_the_site(engine: sa.Engine, tmp_path: Path) -> None:
    """shuangsui never updates a version or removes a sign-off, but a repair made by hand in
    the database is still seen by the next publish: the database logs every write to the
    finding tables (``finding_change``), whoever makes it."""
    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    results = site.out / "data" / "results.json"
    with engine.begin() as conn:
        version = conn.execute(sa.text("SELECT max(id) FROM finding_version")).scalar_one()
        _repair(conn, version, "现场核查：补正说明")
    report = site.publish()
    assert report.reread == [ROUND] and "现场核查：补正说明" in results.read_text("utf-8")
    with engine.begin() as conn:  # one signature taken back: the version is no longer final
        conn.execute(
            sa.text("DELETE FROM finding_signoff WHERE version_id = :id AND inspector_id = :who"),
            {"id": version, "who": teams[codes[0]][1]},
        )
    report = site.publish()
    assert report.reread == [ROUND] and "现场核查：补正说明" not in results.read_text("utf-8")
    assert publish(engine, site.out).reread == []  # and then nothing more


def test_a_change_committed_after_a_later_one_still_reaches_the_site(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """On PostgreSQL a writer can take its log id and commit after another writer that took a
    larger one. A publish between the two commits must still see the first once it commits:
    the log's count grows even where its largest id does not."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its log ids come in commit order")
    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    with engine.connect() as first:
        version = first.execute(sa.text("SELECT max(id) FROM finding_version")).scalar_one()
        first.commit()
        _repair(first, version, "先写后提交")  # its log row takes an id now; still open
        findings.submit(engine, round_key=ROUND, credit_code=codes[2], data=finding("other"),
                        submitted_by=f"inspector:{teams[codes[2]][0]}",
                        signers=[teams[codes[2]][0]])  # fmt: skip
        assert site.publish().reread == [ROUND]  # the later id, committed first
        first.commit()
    report = site.publish()
    assert report.reread == [ROUND]
    assert "先写后提交" in (site.out / "data" / "results.json").read_text("utf-8")
