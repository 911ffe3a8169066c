"""A folder the publish keeps in the site (``data``, ``static``, ``rounds``, a round's folder
or its bundle, ``.parts``) replaced by a symlink, to a copy outside the site or to another
folder of it: every publish failed, ``--check-files`` too, with the path refusal meant for
names from data (``'data/ccc-2026-12.json': refused, the path would not be inside site/ (a
name from data must stay inside its folder)``), and the web server went on serving what the
link leads to. Now the publish is refused before it reads or writes anything, naming the link
and saying what to do; nothing is written through the link, nothing recorded; once a folder
stands there again, the next publish makes the site a publish into an empty folder makes. A
site folder that is itself a link (``--out`` given a link) is published into as before."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from shuangsui.errors import UserError
from tests.findings.factories import ROUND, drawn_round, final_finding
from tests.website.test_incremental import _tree
from website.site import publish


def _listing(root: Path) -> dict[str, str]:
    """Every entry under ``root``, links not followed: a link as its target, a file by its
    SHA-256."""
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _published(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM published_result")).scalar_one()


@pytest.mark.parametrize(
    "folder",
    ["data", "static", ".parts", "rounds", f"rounds/{ROUND}", f"rounds/{ROUND}/bundle", "inside"],
)
def test_a_linked_folder_refuses_the_publish_before_anything_is_done(
    engine: sa.Engine, tmp_path: Path, folder: str
) -> None:
    teams = drawn_round(engine)
    codes = sorted(teams)
    final_finding(engine, codes[0], teams[codes[0]], result="no_problem")
    out = tmp_path / "site"
    publish(engine, out)
    if folder == "inside":  # data/ a link to another folder of the site
        folder, target = "data", out / "static"
    else:
        target = tmp_path / "outside"
        shutil.copytree(out / folder, target)
    shutil.rmtree(out / folder)
    (out / folder).symlink_to(target)
    final_finding(engine, codes[1], teams[codes[1]], result="other")  # something to publish
    site, outside, recorded = _listing(out), _listing(target), _published(engine)

    for check_files in (False, True):
        with pytest.raises(UserError) as refused:
            publish(engine, out, check_files=check_files)
        message = str(refused.value)
        assert message.startswith(f"site/{folder}: a link (to {target})"), message
        assert "nothing was published" in message and "Put a folder there" in message
        assert _listing(out) == site and _listing(target) == outside  # nothing written
        assert _published(engine) == recorded  # nothing recorded

    (out / folder).unlink()  # as the message says: a folder in the link's place
    (out / folder).mkdir()
    report = publish(engine, out)
    assert report.newly_published == 1
    clean = tmp_path / "clean"
    publish(engine, clean)
    assert _tree(out) == _tree(clean)  # exactly what a publish into an empty folder makes
    assert _listing(target) == outside
    assert publish(engine, out).written == []


def test_a_site_folder_that_is_itself_a_link_is_published_into(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = drawn_round(engine)
    codes = sorted(teams)
    final_finding(engine, codes[0], teams[codes[0]], result="no_problem")
    real, out = tmp_path / "real", tmp_path / "site"
    publish(engine, real)
    out.symlink_to(real)
    final_finding(engine, codes[1], teams[codes[1]], result="other")
    assert publish(engine, out).newly_published == 1
    clean = tmp_path / "clean"
    publish(engine, clean)
    assert _tree(real) == _tree(clean) and out.is_symlink()
