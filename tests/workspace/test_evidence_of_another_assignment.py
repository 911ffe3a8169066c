"""The inspector's page cites and serves only files uploaded for its assignment: a draft holding
a file of another enterprise's check (a draft saved before the rule, one edited in the data
folder) is refused on 提交, in Chinese naming the file, and the page does not serve it; the same
bytes attached on this page are then this assignment's too, and pass."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from findings.models import FindingVersion
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.workspace.helpers import PNG, csrf_of, open_assignment
from workspace import drafts

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}
THEIR_PHOTO = PNG + b"another enterprise's workshop"


def _attached(http: httpx.Client, base: str, code: str, inspector: str, data: bytes) -> str:
    """Attach ``data`` as a photo on ``inspector``'s page of ``code`` (saved as a draft): its
    digest, as the page links it."""
    path, html = open_assignment(http, base, code, inspector)
    r = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "draft"},
                  files={"photo": ("workshop.png", data, "image/png")})  # fmt: skip
    assert r.status_code == 303, r.text
    found = re.search(rf"{re.escape(path)}/evidence/([0-9a-f]{{64}})", http.get(path).text)
    assert found, "the page shows no attached photo"
    return found.group(1)


def _versions(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(FindingVersion)).all())


def test_a_draft_citing_another_assignments_file_is_refused_and_not_served(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    ours, theirs = sorted(teams)[:2]
    me = teams[ours][0]
    with httpx.Client(base_url=base) as other:
        foreign = _attached(other, base, theirs, teams[theirs][0], THEIR_PHOTO)
    home = Path(get_settings().home)
    with httpx.Client(base_url=base) as http:
        path, _ = open_assignment(http, base, ours, me)
        drafts.save(home, ROUND, ours, me, {**FORM, "certificates": {},
                    "evidence": [{"sha256": foreign, "filename": "workshop.png"}]})  # fmt: skip
        page = http.get(path)
        served = http.get(f"{path}/evidence/{foreign}")
        r = http.post(path, data={"csrf": csrf_of(page.text), **FORM, "action": "submit"})
    assert served.status_code == 404 and "这项任务没有这个文件" in served.text
    assert r.status_code == 422, r.text
    assert (
        f"现场照片和附件：文件 {foreign[:12]}… 不是为这家企业本轮的检查上传的，不能列入检查结果；"
        "请在本页重新上传该文件。"
    ) in r.text
    assert "was not uploaded" not in r.text
    assert _versions(engine) == 0


def test_the_same_bytes_attached_on_this_page_are_this_assignments_too(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    ours, theirs = sorted(teams)[:2]
    me = teams[ours][0]
    with httpx.Client(base_url=base) as other:
        foreign = _attached(other, base, theirs, teams[theirs][0], THEIR_PHOTO)
    with httpx.Client(base_url=base) as http:
        assert _attached(http, base, ours, me, THEIR_PHOTO) == foreign  # one file
        path, html = open_assignment(http, base, ours, me)
        r = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "submit"})
        assert r.status_code == 303, r.text
        got = http.get(f"{path}/evidence/{foreign}")
    assert got.status_code == 200 and got.content == THEIR_PHOTO
    assert _versions(engine) == 1
