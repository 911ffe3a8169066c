"""An inspector's link revoked while an evidence upload or a draft save through it is under way:
the write is refused as the link would be refused at the start of a request, and leaves no row,
no draft and no audit entry. The uploaded file, stored by its digest before its row, stays as
a file nothing names (``findings.evidence``); a draft save that has checked the link first is
saved before the revocation commits."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import inspector_tokens
from findings import evidence
from findings.models import Evidence
from rounds import audit
from shuangsui import writes
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.races import assert_blocked, held_while
from tests.workspace.helpers import PNG, bearer, csrf_of, open_assignment, revoke_links
from workspace import drafts

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def _events(engine: sa.Engine, code: str) -> list[str]:
    with Session(engine) as s:
        chain = audit.load_chain(s, ROUND)
    return [e.event for e in chain if json.loads(e.payload).get("credit_code") == code]


def _stored() -> list[str]:
    """The evidence folder's files (temporary ones included)."""
    folder = evidence.evidence_dir(Path(get_settings().home))
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_an_api_upload_whose_link_is_revoked_meanwhile_is_refused(
    live: tuple[str, dict], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    url = f"/findings/{ROUND}/{code}/evidence"
    headers = bearer(code, team[0]) | {"Content-Type": "image/png"}
    with httpx.Client(base_url=base, timeout=60) as http:
        r = held_while(
            monkeypatch,
            (evidence, "record"),  # the file stored, its row not yet written
            lambda: http.post(url, content=PNG, headers=headers, params={"filename": "门.png"}),
            meanwhile=lambda: revoke_links(engine, team[0]),
        )
        at_the_door = http.post(url, content=PNG, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["type"] == "urn:shuangsui:problem:token-revoked"
    assert r.json() == at_the_door.json()  # as if it had come after the revocation
    assert r.headers["www-authenticate"] == "Bearer"
    with Session(engine) as s:
        assert s.exec(select(Evidence)).all() == []
    # the file stays, named by nothing: no row, so no version may cite it and none serves it
    assert _stored() == [hashlib.sha256(PNG).hexdigest()]


def _draft_saved_while_revoked(
    live: tuple[str, dict],
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    at: tuple[ModuleType, str],
    files: dict[str, Any] | None = None,
) -> tuple[str, str, httpx.Response, httpx.Response]:
    """The round's first enterprise's first inspector opens their link and saves ``FORM`` as a
    draft (with ``files``), held at ``at`` while their links are revoked (committed): the
    enterprise, the inspector, what the save got back and what the page gives afterwards."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base, timeout=60) as http:
        path, html = open_assignment(http, base, code, team[0])
        form = {"csrf": csrf_of(html), **FORM, "action": "draft"}
        r = held_while(
            monkeypatch,
            at,
            lambda: http.post(path, data=form, files=files),
            meanwhile=lambda: revoke_links(engine, team[0]),
        )
        return code, team[0], r, http.get(path)


def test_a_workspace_upload_whose_link_is_revoked_meanwhile_is_refused(
    live: tuple[str, dict], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = {"photo": ("门.png", PNG, "image/png")}
    code, me, r, at_the_door = _draft_saved_while_revoked(
        live, engine, monkeypatch, (evidence, "record"), photo
    )
    assert r.status_code == 401 and "链接已被撤销" in r.text, r.text
    assert FORM["description"] in r.text and "1 个照片或文件未保存" in r.text  # to copy
    assert at_the_door.status_code == 401 and "链接已被撤销" in at_the_door.text
    with Session(engine) as s:
        assert s.exec(select(Evidence)).all() == []
    assert drafts.load(get_settings().home, ROUND, code, me) == {}
    assert "EvidenceAttached" not in _events(engine, code)
    assert "DraftSaved" not in _events(engine, code)
    assert _stored() == [hashlib.sha256(PNG).hexdigest()]


def test_a_draft_save_whose_link_is_revoked_meanwhile_is_refused(
    live: tuple[str, dict], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, me, r, at_the_door = _draft_saved_while_revoked(
        live, engine, monkeypatch,
        (drafts, "locked"),  # the draft's turn taken, nothing yet read or saved
    )  # fmt: skip
    assert r.status_code == 401 and "链接已被撤销" in r.text, r.text
    assert FORM["description"] in r.text and "链接已被撤销" in at_the_door.text
    assert drafts.load(get_settings().home, ROUND, code, me) == {}
    assert "DraftSaved" not in _events(engine, code)


@pytest.mark.postgres
def test_a_revocation_waits_for_a_draft_save_that_checked_the_link_first(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """The link checked and the draft not yet written when the revocation starts: the
    revocation waits until the draft is saved. PostgreSQL, where each statement reads what is
    committed when it starts; on SQLite the check holds the database's write lock."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    _, teams = live
    code, team = sorted(teams.items())[0]
    home = get_settings().home
    check = inspector_tokens.still_open(get_settings(), ROUND, code, team[0])

    with ThreadPoolExecutor(1) as pool:
        with writes.checked(engine, check):
            revoked = pool.submit(
                inspector_tokens.revoke, engine, team[0], round_key=ROUND, by="李协调"
            )
            assert_blocked(
                engine, revoked, "the revocation committed while a checked save was open"
            )
            drafts.save(home, ROUND, code, team[0], {"description": "保存于撤销之前"})
        revoked.result(60)
    assert drafts.load(home, ROUND, code, team[0]) == {"description": "保存于撤销之前"}
    with pytest.raises(inspector_tokens.LinkRefused):
        with writes.checked(engine, check):
            raise AssertionError("a draft saved after the revocation")
