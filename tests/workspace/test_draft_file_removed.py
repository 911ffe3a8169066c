"""An inspector takes a file out of their draft before submitting: each attached file has a box,
移除, and the next 保存草稿 or 提交 leaves it out. The page had no way to: a wrong photo, once
attached, went into the finding with the rest. The file stays stored and linked to the
assignment; the audit log shows it was attached and left out (``EvidenceRemoved``). Over real
HTTP, both databases."""

from __future__ import annotations

import hashlib
import json
import re

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service
from rounds.models import AuditEvent
from tests.findings.factories import ROUND
from tests.workspace.helpers import PNG, csrf_of, open_assignment

WRONG, RIGHT = PNG + b"wrong", PNG + b"right"
FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查"}


def _attached(html: str) -> list[str]:
    """The draft's files as the form lists them: the digests of its 移除 boxes."""
    return re.findall(
        r'<input type="checkbox" class="check" name="remove" value="([0-9a-f]{64})">', html
    )


def _removed(engine: sa.Engine) -> list[str]:
    with Session(engine) as db:
        rows = db.exec(select(AuditEvent).where(AuditEvent.event == "EvidenceRemoved"))
        return [json.loads(r.payload)["sha256"] for r in rows]


def test_a_file_ticked_is_left_out_of_the_draft_and_the_finding(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    wrong, right = hashlib.sha256(WRONG).hexdigest(), hashlib.sha256(RIGHT).hexdigest()
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        files = [("photo", ("a.png", WRONG, "image/png")), ("photo", ("b.png", RIGHT, "image/png"))]
        r = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "draft"}, files=files)
        assert r.status_code == 303
        page = http.get(path).text
        assert sorted(_attached(page)) == sorted([wrong, right])
        # what names no file of the draft takes nothing out
        for odd in ("x" * 64, "../" + wrong, "0" * 64, wrong.upper()):
            data = {"csrf": csrf_of(page), **FORM, "action": "draft", "remove": odd}
            assert http.post(path, data=data).status_code == 303
        assert sorted(_attached(http.get(path).text)) == sorted([wrong, right])
        assert _removed(engine) == []
        # the wrong photo ticked, then saved
        data = {"csrf": csrf_of(page), **FORM, "action": "draft", "remove": wrong}
        assert http.post(path, data=data).status_code == 303
        page = http.get(path).text
        assert _attached(page) == [right] and "已添加的照片" in page
        assert _removed(engine) == [wrong]
        # submitted: the finding cites the right one alone
        r = http.post(path, data={"csrf": csrf_of(page), **FORM, "action": "submit"})
        assert r.status_code == 303, r.text[:300]
    (version,) = service.history(engine, ROUND, code).versions
    assert [e["sha256"] for e in version.evidence] == [right]


def test_ticked_and_submitted_at_once(live: tuple[str, dict], engine: sa.Engine) -> None:
    """移除 ticked and 提交 pressed in one go: the version is made without the file."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    wrong = hashlib.sha256(WRONG).hexdigest()
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        files = [("photo", ("a.png", WRONG, "image/png"))]
        r = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "draft"}, files=files)
        assert r.status_code == 303
        page = http.get(path).text
        data = {"csrf": csrf_of(page), **FORM, "action": "submit", "remove": wrong}
        assert http.post(path, data=data).status_code == 303
    (version,) = service.history(engine, ROUND, code).versions
    assert version.evidence == [] and _removed(engine) == [wrong]
