"""A publish refused part way leaves the site as it found it: on a brand-new site, no
commitment page linking to an index.html and a site.css that were never written; on a site
published before, no new file linking to another that is not there. The refusals: a folder
standing where the publish writes a file (found only when it gets there), and findings
written while the publish read them, each time (``website.site._read_checked``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds import service
from shuangsui.errors import Conflict, UserError
from tests.rounds.factories import plan_yaml
from tests.website.test_no_bundles_links import NEXT, dead_links, drawn_round
from website import site as site_module
from website.site import MANIFEST, publish


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _folders(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_dir())


def test_a_folder_in_the_way_of_a_new_site_leaves_it_untouched(
    engine: sa.Engine, tmp_path: Path
) -> None:
    drawn_round(engine)
    out = tmp_path / "site"
    (out / "index.html").mkdir(parents=True)  # a person's folder, where the index goes
    (out / "index.html" / "notes.txt").write_text("mine")
    before, folders = _files(out), _folders(out)
    with pytest.raises(UserError, match=r"site/index.html: a folder stands where"):
        publish(engine, out, bundles=False)
    assert _files(out) == before
    assert _folders(out) == folders
    (out / "index.html" / "notes.txt").unlink()
    (out / "index.html").rmdir()
    publish(engine, out, bundles=False)  # moved away: the publish goes through
    assert (out / MANIFEST).is_file() and dead_links(out) == []


def test_findings_written_while_read_leave_a_new_site_untouched(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn_round(engine)
    out = tmp_path / "site"

    def busy(*args: object, **kwargs: object) -> None:
        raise Conflict("findings were written while the publish read them")

    monkeypatch.setattr(site_module, "_read_checked", busy)
    with pytest.raises(Conflict):
        publish(engine, out, bundles=False)
    assert _files(out) == {} and _folders(out) == []


def test_a_refusal_on_a_published_site_leaves_no_page_of_a_new_round(
    engine: sa.Engine, tmp_path: Path
) -> None:
    drawn_round(engine)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    before, folders = _files(out), _folders(out)
    service.commit_round(engine=engine, plan_text=plan_yaml(plan_id=NEXT, period="2027-01"))
    (out / "rounds" / NEXT / "index.html").mkdir(parents=True)  # where its page goes
    with pytest.raises(UserError, match=rf"rounds/{NEXT}/index.html: a folder stands where"):
        publish(engine, out, bundles=False)
    assert _files(out) == before
    assert _folders(out) == sorted([*folders, f"rounds/{NEXT}", f"rounds/{NEXT}/index.html"])
