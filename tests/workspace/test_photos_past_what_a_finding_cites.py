"""More photos and files than a finding may cite (``findings.schemas.MAX_EVIDENCE``, 100), chosen
on the inspector's page: every one was stored and added to the draft (a post may carry a
thousand small files: 1,001 attached in two posts, a page of half a megabyte), and only 提交
said 现场照片和附件：过多，最多 100 项, the member left to tick 移除 beside each one too many.
Now the draft takes files up to what a finding cites, and each past it is named, not stored;
the text typed and the files that fit are saved as the draft, and it is then submitted as it
is. Over a real server; both databases."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service
from findings.models import Evidence
from findings.schemas import MAX_EVIDENCE
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.findings.media_samples import JPEG
from tests.workspace.helpers import FORM, csrf_of, open_assignment
from workspace import drafts


def _photos(first: int, count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    """``count`` small JPEGs, each its own bytes, named p<n>.jpg from ``first``."""
    return [("photo", (f"p{n}.jpg", JPEG + str(n).encode(), "image/jpeg"))
            for n in range(first, first + count)]  # fmt: skip


def test_files_past_what_a_finding_cites_are_named_not_stored(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, (member, *_) = sorted(teams.items())[0]
    with httpx.Client(base_url=base, timeout=120) as http:
        path, page = open_assignment(http, base, code, member)
        form = {"csrf": csrf_of(page), **FORM}
        saved = http.post(path, data={**form, "action": "draft"}, files=_photos(0, 98))
        assert saved.status_code == 303, saved.text[-500:]
        r = http.post(path, data={**form, "action": "submit"}, files=_photos(98, 4))
        assert r.status_code == 422, r.text[-500:]
        full = f"一次检查结果最多 {MAX_EVIDENCE} 个照片和文件，草稿中已有 100 个"
        for n in (100, 101):
            assert f"文件“p{n}.jpg”未保存：{full}" in r.text, r.text[-3000:]
        assert "p99.jpg”未保存" not in r.text
        draft = drafts.load(get_settings().home, ROUND, code, member)
        assert len(draft["evidence"]) == MAX_EVIDENCE
        assert draft["description"] == FORM["description"]
        with Session(engine) as db:
            assert len(db.exec(select(Evidence)).all()) == MAX_EVIDENCE  # the two not stored
        assert service.history(engine, ROUND, code).versions == []

        done = http.post(path, data={**form, "action": "submit"})  # the draft as it is
        assert done.status_code == 303, done.text[-500:]
    (version,) = service.history(engine, ROUND, code).versions
    assert len(version.evidence) == MAX_EVIDENCE
