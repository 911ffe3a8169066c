"""A round read again renders only its results that changed (website/fragments.py): the others'
CSV rows and page rows are taken from the last publish's files, and only from files that are
the ones the manifest lists; a kept round's files are checked once per publish. Each
``Site.publish`` compares the folder, byte for byte, with a publish of the same database into
an empty folder."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds import service as rounds
from tests.crash.test_kill_publish import _tree
from tests.findings.factories import ROUND, final_finding
from tests.website.program import program_copy, publish_process
from tests.website.test_incremental import NEXT, Site, _two_rounds
from website import fragments, opendata, render
from website.fragments import ROW_START
from website.output import part_file
from website.parts import pieces_of
from website.site import publish


def _rendered(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """The credit codes whose page rows, and whose CSV rows, are rendered from now on."""
    rows: list[str] = []
    lines: list[str] = []
    page_rows, csv_lines = render.page_rows, opendata.csv_lines

    def rows_of(results, causes):  # type: ignore[no-untyped-def]
        rows.extend(r.credit_code for r in results)
        return page_rows(results, causes)

    def lines_of(results):  # type: ignore[no-untyped-def]
        lines.extend(r.credit_code for r in results)
        return csv_lines(results)

    monkeypatch.setattr(render, "page_rows", rows_of)
    monkeypatch.setattr(opendata, "csv_lines", lines_of)
    return rows, lines


def _draw_next(engine: sa.Engine) -> None:
    rounds.draw_round(engine=engine, round_key=NEXT, entropy=rounds.EntropyInput(
        witness_digits="2718281828459045235360287", witnesses=("李四",)))  # fmt: skip


def test_a_change_renders_only_the_result_that_changed(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teams_of, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    rows, lines = _rendered(monkeypatch)

    final_finding(engine, codes[1], teams_of[codes[1]], result="unreachable")  # a new result
    assert publish(engine, site.out).reread == [ROUND]
    assert rows == lines == [codes[1]]
    final_finding(engine, codes[0], teams_of[codes[0]], result="other", reason="更正：笔误")
    assert publish(engine, site.out).reread == [ROUND]
    assert rows == lines == [codes[1], codes[0]]
    site.publish()  # nothing more changed; the folder is what a full publish makes


@pytest.mark.parametrize("tampered", [f"rounds/{ROUND}/index.html", f"data/{ROUND}.csv"])
def test_a_piece_changed_on_disk_is_rendered_again(
    engine: sa.Engine, tmp_path: Path, tampered: str
) -> None:
    """A row of a result that does not change is edited in place (its length and place the
    same, so that only the file's SHA-256 can tell), then another result of its round
    changes: the round is rendered whole, that row as the database has it."""
    teams_of, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    target = site.out / tampered
    data = target.read_bytes()
    start = data.index(codes[3].encode())
    if tampered.endswith(".html"):
        start = data.index(f'{ROW_START}{codes[3]}"'.encode())
    end = data.index(b"\n", start)
    forged = data[start:end].replace(codes[3][-4:].encode(), b"XXXX")
    target.write_bytes(data[:start] + forged + data[end:])

    final_finding(engine, codes[1], teams_of[codes[1]], result="unreachable")
    site.publish()  # no XXXX: compared with a full publish


def test_a_kept_page_cut_short_is_written_again(engine: sa.Engine, tmp_path: Path) -> None:
    """A kept round's page is checked by its size: one truncated on disk is written again,
    its round read again, at the next publish that reads anything."""
    teams_of, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    page = site.out / "rounds" / NEXT / "index.html"
    page.write_bytes(page.read_bytes()[:100])

    final_finding(engine, codes[1], teams_of[codes[1]], result="unreachable")
    report = site.publish()
    assert sorted(report.reread) == [ROUND, NEXT]
    assert f"rounds/{NEXT}/index.html" in report.written


def test_a_kept_data_file_changed_on_disk_is_found_as_it_is_joined(
    engine: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A kept round's data files are checked as they are joined into the files spanning
    every round: one edited on disk (its size the same) makes the publish start again, every
    kept file checked first, so that its round is read again and the file written again."""
    _teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    data = site.out / "data" / f"{ROUND}.csv"
    data.write_bytes(data.read_bytes().replace(codes[0].encode(), codes[0][:-4].encode() + b"XXXX"))

    caplog.clear()
    _draw_next(engine)  # a change in the other round only
    report = site.publish()  # no XXXX: compared with a full publish
    assert f"data/{ROUND}.csv is not the file the manifest lists" in caplog.text
    assert "publishing again, every kept file checked first" in caplog.text
    assert sorted(report.reread) == [ROUND, NEXT] and f"data/{ROUND}.csv" in report.written


@pytest.mark.slow
def test_a_killed_publish_leaves_the_next_one_correct(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    """A publish killed after writing some of a round's files (its page and CSV in place, its
    JSON and part not), then another change in that round: the next publish takes no piece
    from files the manifest does not list. Every process runs one copy of the program
    (tests/website/program.py): the folders name the program that made them."""
    kill_at = f"before-rename:{ROUND}.json"
    program = program_copy(tmp_path / "program")
    teams_of, codes = _two_rounds(engine)
    site = tmp_path / "site"
    publish_process(program, db_url, tmp_path, site)
    final_finding(engine, codes[1], teams_of[codes[1]], result="unreachable")
    assert publish_process(program, db_url, tmp_path, site, kill_at=kill_at) == -signal.SIGKILL

    final_finding(engine, codes[2], teams_of[codes[2]], result="other")
    publish_process(program, db_url, tmp_path, site)
    clean = tmp_path / "clean"
    publish_process(program, db_url, tmp_path, clean)
    assert _tree(site) == _tree(clean)


@pytest.mark.parametrize("moved", ["rows", "lengths"])
def test_pieces_listed_under_another_firms_record_are_not_taken(
    engine: sa.Engine, tmp_path: Path, moved: str
) -> None:
    """Someone who rewrites the part and the manifest to match (so every SHA-256 agrees)
    swaps two firms' page rows in the index, or moves characters between two CSV rows:
    the pieces no longer belong to their records, and none is taken."""
    _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    html, csv_rel, json_rel = render.round_paths(ROUND)
    files = {rel: (site.out / rel).read_bytes() for rel in (html, csv_rel, json_rel)}
    index = pieces_of((site.out / part_file(ROUND)).read_bytes())
    fragments.kept(index, files[json_rel], files[csv_rel], files[html])  # as written: taken
    forged = json.loads(json.dumps(index))
    if moved == "rows":
        for field in ("page", "page_lengths"):
            forged[field][0], forged[field][1] = forged[field][1], forged[field][0]
    else:
        forged["csv"][0] += 5
        forged["csv"][1] -= 5
    with pytest.raises(ValueError, match="not that firm's"):
        fragments.kept(forged, files[json_rel], files[csv_rel], files[html])
