"""``publish --check-files`` (the daily ``publish-results`` run): every file the last publish
wrote is read and hashed first; each one changed on disk since, or missing, is written again,
and recorded in the audit log. Without it a kept page edited in place stays until its round
changes (the publish trusts its manifest for what it did not write). A commitment is put back
only as the bytes first published; files no publish wrote in the site's own folders are named
and left."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from rounds import audit
from shuangsui.cli import _register_groups, app
from shuangsui.errors import IntegrityError
from tests.findings.factories import ROUND
from tests.website.test_incremental import NEXT, Site, _tree, _two_rounds
from website.output import MANIFEST
from website.render import commitment_paths
from website.site import publish


def _same_length_edit(path: Path) -> None:
    """A digit of the file changed in place: its size the same, only its bytes differ."""
    data = bytearray(path.read_bytes())
    at = next(i for i, b in enumerate(data) if chr(b).isdigit())
    data[at] = ord("7") if data[at] != ord("7") else ord("3")
    path.write_bytes(bytes(data))


def _listed(out: Path) -> dict[str, str]:
    files = json.loads((out / MANIFEST).read_bytes())["files"]
    return {rel: entry[0] for rel, entry in files.items()}


def _site_checks(engine: sa.Engine) -> list[dict]:
    with Session(engine) as session:
        rows = audit.load_chain(session)
    return [json.loads(r.payload) for r in rows if r.event == "SiteFilesChanged"]


def test_files_changed_on_disk_are_written_again_and_recorded(
    engine: sa.Engine, tmp_path: Path
) -> None:
    _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    out = site.out
    bundle = sorted((out / "rounds" / ROUND / "bundle").iterdir())[0]
    listed = _listed(out)
    unnoticed = [f"rounds/{ROUND}/index.html", "index.html", bundle.relative_to(out).as_posix()]
    for rel in unnoticed:
        _same_length_edit(out / rel)
    (out / "rounds" / ROUND / "extra.html").write_text("<p>另一份名单</p>", "utf-8")
    (out / "robots.txt").write_text("User-agent: *\n", "utf-8")  # a person's file, not ours
    changed = _tree(out)

    # the publish trusts its manifest for what it need not write again: pages edited in place
    # stay as they were changed
    plain = publish(engine, out)
    assert plain.written == [] and plain.restored == [] and _tree(out) == changed
    assert _site_checks(engine) == []

    tampered = [*unnoticed, f"data/{ROUND}.csv", "data/results.csv"]
    for rel in tampered[len(unnoticed) :]:
        _same_length_edit(out / rel)
    (out / "static" / "site.css").unlink()
    report = publish(engine, out, check_files=True)
    assert report.restored == sorted([*tampered, "static/site.css"])
    assert report.unlisted == [f"rounds/{ROUND}/extra.html"] and report.unrestored == []
    assert sorted(report.written) == report.restored  # nothing else was written
    after = _tree(out)
    del after[f"rounds/{ROUND}/extra.html"], after["robots.txt"]
    clean = tmp_path / "clean"
    publish(engine, clean)
    assert after == _tree(clean)  # every file as a publish into an empty folder makes it
    assert _listed(out) == listed
    (check,) = _site_checks(engine)
    assert check == {
        "restored": {rel: listed[rel] for rel in report.restored},
        "unrestored": {},
        "unlisted": [f"rounds/{ROUND}/extra.html"],
    }

    again = publish(engine, out, check_files=True)
    assert again.restored == [] and again.written == []
    assert again.unlisted == [f"rounds/{ROUND}/extra.html"]  # named until it is taken away
    assert len(_site_checks(engine)) == 2
    (out / "rounds" / ROUND / "extra.html").unlink()
    assert publish(engine, out, check_files=True).unlisted == []
    assert len(_site_checks(engine)) == 2


def test_a_commitment_is_put_back_only_as_first_published(
    engine: sa.Engine, tmp_path: Path
) -> None:
    _two_rounds(engine)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    json_rel, html_rel = commitment_paths(NEXT)
    first = (out / json_rel).read_bytes()
    (out / json_rel).write_bytes(first.replace(b'"frame_size"', b'"frame_size_"'))

    # the database's commitment is the one first published: the same bytes, put back
    report = publish(engine, out, bundles=False, check_files=True)
    assert report.restored == [json_rel] and (out / json_rel).read_bytes() == first

    # a commitment whose first bytes this database and program no longer make: left as
    # found, still listed as first published, and the publish refuses (every run, until a
    # person restores the file)
    manifest = json.loads((out / MANIFEST).read_bytes())
    manifest["files"][html_rel][0] = hashlib.sha256(b"the page as first published").hexdigest()
    (out / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    page = (out / html_rel).read_bytes()
    with pytest.raises(IntegrityError, match=rf"{html_rel}: changed on disk since"):
        publish(engine, out, bundles=False, check_files=True)
    assert (out / html_rel).read_bytes() == page
    assert _listed(out)[html_rel] == manifest["files"][html_rel][0]
    assert _site_checks(engine)[-1]["unrestored"] == {html_rel: manifest["files"][html_rel][0]}
    with pytest.raises(IntegrityError, match="restore the file from a backup"):
        publish(engine, out, bundles=False, check_files=True)
    assert publish(engine, out, bundles=False).written == []  # never written by a publish


def test_the_command_names_each_file(engine: sa.Engine, tmp_path: Path) -> None:
    _two_rounds(engine)
    out = tmp_path / "site"
    _register_groups()
    runner = CliRunner()
    first = runner.invoke(app, ["publish", "--out", str(out), "--no-bundles"])
    assert first.exit_code == 0, first.output
    _same_length_edit(out / "data" / "results.csv")
    (out / "data" / "extra.json").write_text("{}", "utf-8")
    checked = runner.invoke(app, ["publish", "--out", str(out), "--no-bundles", "--check-files"])
    assert checked.exit_code == 0, checked.output
    assert f"{out / 'data/results.csv'}: changed on disk since it was published; written again" in (
        checked.stderr
    )
    assert f"{out / 'data/extra.json'}: no publish wrote this file; left as found" in (
        checked.stderr
    )


def test_a_commitment_first_published_by_a_checking_publish_is_stamped_at_its_now(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """``now`` fixes when a commitment first appeared, with the check as without it."""
    from rounds import service
    from rounds.models import Round
    from tests.rounds.factories import plan_yaml

    _two_rounds(engine)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    later = "ccc-2027-02"
    service.commit_round(engine=engine, plan_text=plan_yaml(plan_id=later, period="2027-02"))
    at = dt.datetime(2027, 1, 20, 2, 0, tzinfo=dt.UTC)
    assert (
        commitment_paths(later)[0]
        in publish(engine, out, bundles=False, now=at, check_files=True).written
    )
    with Session(engine) as session:
        stamped = session.get(Round, later)
        assert stamped is not None and stamped.commitment_published_at is not None
        assert stamped.commitment_published_at.replace(tzinfo=dt.UTC) == at


def test_what_is_not_a_regular_file_is_replaced_never_followed_nor_waited_on(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A FIFO where a page was made the check wait for ever (the daily run hung); a symlink
    there, to a file outside the site or to ``/dev/zero``, failed every run with a refusal that
    named no cause and left the site serving the outside file. Each is now removed, never read,
    and the page written in its place."""
    import os
    import threading

    _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    out = site.out
    listed = _listed(out)
    outside = tmp_path / "outside.html"
    outside.write_text("<p>站外的文件</p>", "utf-8")
    fifo, to_outside, to_zero = f"rounds/{ROUND}/index.html", "index.html", "search.html"
    for rel in (fifo, to_outside, to_zero):
        (out / rel).unlink()
    os.mkfifo(out / fifo)
    (out / to_outside).symlink_to(outside)
    (out / to_zero).symlink_to("/dev/zero")

    done: list[object] = []
    run = threading.Thread(target=lambda: done.append(publish(engine, out, check_files=True)),
                           daemon=True)  # fmt: skip
    run.start()
    run.join(60)
    if run.is_alive():  # let the waiting read go, so the test ends
        with open(out / fifo, "wb"):
            pass
        pytest.fail("publish --check-files waited on a FIFO in the site")
    (report,) = done
    assert report.restored == sorted([fifo, to_outside, to_zero])  # type: ignore[attr-defined]
    for rel in (fifo, to_outside, to_zero):
        assert (out / rel).is_file() and not (out / rel).is_symlink()
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == listed[rel]
    assert outside.read_text("utf-8") == "<p>站外的文件</p>"  # never written through the link


def test_a_folder_where_a_page_was_is_named_and_nothing_is_written(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A folder in place of a page failed naming a temporary file (``.tmp-shuangsui-…: Is a
    directory``) after saying the page was written again, and left parts that the next run read
    again. It is now refused first, naming the page; the folder (it may hold a person's files)
    and every other file are left as they were."""
    from shuangsui.errors import UserError
    from tests.findings.factories import final_finding

    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    out = site.out
    (out / "search.html").unlink()
    (out / "search.html").mkdir()
    (out / "search.html" / "notes.txt").write_text("某人的文件", "utf-8")
    _same_length_edit(out / "index.html")
    before = _tree(out)
    with pytest.raises(UserError) as refused:
        publish(engine, out, check_files=True)
    assert f"{out.name}/search.html: a folder stands where the publish writes this file" in str(
        refused.value
    )
    assert ".tmp-shuangsui" not in str(refused.value)
    assert _tree(out) == before
    # a publish without the check that has the page to write names it too
    final_finding(engine, codes[1], teams[codes[1]])
    with pytest.raises(UserError) as plain:
        publish(engine, out)
    assert f"{out.name}/search.html: a folder stands where" in str(plain.value)
    assert (out / "search.html" / "notes.txt").read_text("utf-8") == "某人的文件"
