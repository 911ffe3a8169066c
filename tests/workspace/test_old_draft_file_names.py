"""A draft saved before the inspector's page checked the names of the files it takes (commit
e855c34 refuses them as they arrive), holding a name the finding refuses or a folder's path:
U+202E, U+200B, a NUL, ``/``. Every 提交 was then refused (照片（evidence.0.filename）：含有不
可见字符…), and the page has no way to rename or remove a file: the draft was stuck. Now the
draft is read with such a name mended (workspace/drafts.py ``safe_name``): the page shows the
mended name, 提交 records the version with the file kept under it. The draft is written as an
old version wrote it (its JSON file), then the page is used over real HTTP, SQLite and
PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from findings import service
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.workspace.helpers import PNG, csrf_of, open_assignment
from workspace import drafts

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


@pytest.mark.parametrize(
    ("old", "mended"),
    [
        ("现场\u202egnp.exe.png", "现场gnp.exe.png"),
        ("现场\u200b照片.png", "现场照片.png"),
        ("现场\x00照片.png", "现场照片.png"),
        ("照片/现场.png", "照片_现场.png"),
        ("\u202e\u200b", None),  # nothing left: named by the file's SHA-256
    ],
    ids=["rlo", "zwsp", "nul", "slash", "nothing-left"],
)
def test_an_old_draft_with_a_refused_file_name_is_submitted_with_the_file_kept(
    live: tuple[str, dict], engine: sa.Engine, old: str, mended: str | None
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    home = get_settings().home
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        saved = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "draft"},
                          files={"photo": ("现场.png", PNG, "image/png")})  # fmt: skip
        assert saved.status_code == 303, saved.text[:300]
        # the draft as a version that took any name left it
        draft = drafts.load(home, ROUND, code, team[0])
        (entry,) = draft["evidence"]
        drafts.save(home, ROUND, code, team[0],
                    draft | {"evidence": [entry | {"filename": old}]})  # fmt: skip
        shown = http.get(path)
        name = mended or f"文件-{entry['sha256'][:12]}"
        assert shown.status_code == 200 and name in shown.text
        assert old not in shown.text
        done = http.post(path, data={"csrf": csrf_of(shown.text), **FORM, "action": "submit"})
        assert done.status_code == 303, done.text[:500]
    (version,) = service.history(engine, ROUND, code).versions
    assert [(e["sha256"], e["filename"]) for e in version.evidence] == [(entry["sha256"], name)]
    assert drafts.load(home, ROUND, code, team[0]) == {}  # submitted: the draft is gone


def test_a_draft_s_good_and_empty_names_are_read_as_they_are() -> None:
    """Only a refused name is mended: a name with spaces, one of 255 characters and an empty
    one (the API's default) are left as saved."""
    sha = "a" * 64
    for name in (" 现场 照片 .png", "长" * 255, ""):
        assert drafts.safe_name(name, sha) == name
    assert drafts.safe_name("长" * 300, sha) == "长" * 255
