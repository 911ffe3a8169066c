"""A revocation that commits while a write through the revoked link is under way: the write is
refused as the link would be refused at the start of a request, and leaves nothing; a write
that has checked the link first commits first, and the revocation after it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import inspector_tokens
from findings import service
from findings.models import Finding, FindingSignoff
from rounds import audit
from shuangsui import writes
from tests.findings.factories import ROUND, finding
from tests.races import held_while
from tests.workspace.helpers import (
    bearer,
    checked_write_waited_for,
    csrf_of,
    open_assignment,
    revoke_links,
)

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def _events(engine: sa.Engine, code: str) -> list[str]:
    with Session(engine) as s:
        chain = audit.load_chain(s, ROUND)
    return [e.event for e in chain if json.loads(e.payload).get("credit_code") == code]


def _revoked_while_held(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, inspector: str, send: Callable[[], Any]
) -> Any:
    """``send()`` held at the start of the finding's write transaction
    (``shuangsui.writes.lock_writes``), between its guard and its write, while ``inspector``'s
    links in the round are revoked (committed); what it got back."""
    at = (writes, "lock_writes")
    return held_while(monkeypatch, at, send, meanwhile=lambda: revoke_links(engine, inspector))


def test_an_api_submission_whose_link_is_revoked_meanwhile_is_refused(
    live: tuple[str, dict], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    url = f"/findings/{ROUND}/{code}"
    body = {"result": "no_problem", "check_date": "2026-12-10"}
    with httpx.Client(base_url=base, timeout=60) as http:
        r = _revoked_while_held(
            engine,
            monkeypatch,
            team[0],
            lambda: http.post(url, json=body, headers=bearer(code, team[0])),
        )
        at_the_door = http.post(url, json=body, headers=bearer(code, team[0]))
    assert r.status_code == 401, r.text
    assert r.json()["type"] == "urn:shuangsui:problem:token-revoked"
    assert r.json() == at_the_door.json()  # as if it had come after the revocation
    assert r.headers["www-authenticate"] == "Bearer"
    with Session(engine) as s:
        assert s.exec(select(Finding).where(Finding.credit_code == code)).all() == []
    assert _events(engine, code) == []


def test_an_api_sign_off_whose_link_is_revoked_meanwhile_is_refused(
    live: tuple[str, dict], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams = live
    code, (lead, second) = sorted(teams.items())[0]
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    before = _events(engine, code)
    url = f"/findings/{ROUND}/{code}/versions/1/sign-off"
    with httpx.Client(base_url=base, timeout=60) as http:
        r = _revoked_while_held(
            engine, monkeypatch, second, lambda: http.post(url, headers=bearer(code, second))
        )
        at_the_door = http.post(url, headers=bearer(code, second))
    assert r.status_code == 401 and r.json() == at_the_door.json(), r.text
    with Session(engine) as s:
        assert [x.inspector_id for x in s.exec(select(FindingSignoff))] == [lead]
    assert _events(engine, code) == before
    assert not service.history(engine, ROUND, code).states[0].final


def test_a_workspace_submission_whose_link_is_revoked_meanwhile_is_refused(
    live: tuple[str, dict], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base, timeout=60) as http:
        path, html = open_assignment(http, base, code, team[0])
        form = {"csrf": csrf_of(html), **FORM, "base_version": "0", "action": "submit"}
        r = _revoked_while_held(engine, monkeypatch, team[0], lambda: http.post(path, data=form))
        at_the_door = http.get(path)
    assert r.status_code == 401 and "链接已被撤销" in r.text, r.text
    assert "本次提交未保存" in r.text and FORM["description"] in r.text  # given back to copy
    assert at_the_door.status_code == 401 and "链接已被撤销" in at_the_door.text
    with Session(engine) as s:
        assert s.exec(select(Finding).where(Finding.credit_code == code)).all() == []
    assert "FindingRecorded" not in _events(engine, code)


def test_a_workspace_sign_off_whose_link_is_revoked_meanwhile_is_refused(
    live: tuple[str, dict], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams = live
    code, (lead, second) = sorted(teams.items())[0]
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    with httpx.Client(base_url=base, timeout=60) as http:
        path, html = open_assignment(http, base, code, second)
        form = {"csrf": csrf_of(html), "version": "1"}
        r = _revoked_while_held(
            engine, monkeypatch, second, lambda: http.post(f"{path}/sign", data=form)
        )
    assert r.status_code == 401 and "链接已被撤销" in r.text, r.text
    with Session(engine) as s:
        assert [x.inspector_id for x in s.exec(select(FindingSignoff))] == [lead]
    assert "FindingSigned" not in _events(engine, code)


@pytest.mark.postgres
def test_a_revocation_waits_for_a_write_that_checked_the_link_first(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """The write has checked the link and is about to write when the revocation starts: the
    revocation waits until the write has committed (a revocation that commits first would
    have to refuse the write). PostgreSQL, where each statement reads what is committed when
    it starts; SQLite's writers hold the database's write lock for the whole transaction."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    _, teams = live
    code, team = sorted(teams.items())[0]
    checked_write_waited_for(
        engine, code, team[0],
        lambda: inspector_tokens.revoke(engine, team[0], round_key=ROUND, by="李协调"),
        "InspectorTokenRevoked",
    )  # fmt: skip
