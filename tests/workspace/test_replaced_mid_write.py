"""A member replaced on the team (docs/draw-algorithm.md §14) while a save or submit of theirs
is under way: past the post's first check (``workspace.guards.inspector_post``), before or
inside the write's own transaction. The write's check (``api.inspector_tokens.still_open``)
finds them off the team, and the page gives back what the post carried, saying who replaced
them, when and who took the seat (``workspace.kept.withdrawn_said``); nothing of the post is
written. A replacement under way when the write checks is waited for, then read; one that
starts after the write has checked waits until the write has committed (the round's row,
which a replacement locks for update and the check for share)."""

from __future__ import annotations

import html
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from draw.replace import CAUSES
from findings import service
from rounds import audit
from rounds.models import TeamChange
from shuangsui import writes
from shuangsui.clock import local_label
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, teams
from tests.races import assert_blocked, held_while
from tests.workspace.helpers import (
    COORDINATOR,
    REPLACED_NOTE,
    checked_write_waited_for,
    csrf_of,
    kept_boxes,
    open_assignment,
    post_state,
    replace_in_team,
    replacement_held,
)
from tests.workspace.test_ended_mid_form import FORM, SAVED, TYPED


def _signed_in_with_a_draft(
    http: httpx.Client, base: str, code: str, member: str
) -> tuple[str, dict[str, str]]:
    """``member``'s page opened and a draft saved on it; the page's path and the submission
    the member then sends (a typed text to give back)."""
    path, page = open_assignment(http, base, code, member)
    saved = http.post(path, data={"csrf": csrf_of(page), "result": "no_problem",
                                  "check_date": "2026-12-09", "description": SAVED,
                                  "action": "draft"})  # fmt: skip
    assert saved.status_code == 303, saved.text[:500]
    return path, {"csrf": csrf_of(page), **FORM, "description": TYPED, "base_version": "0",
                  "action": "submit"}  # fmt: skip


def _refused_as_replaced(engine: sa.Engine, r: httpx.Response, code: str, member: str,
                         seat: str) -> None:  # fmt: skip
    """``r`` is the refusal of a replaced member's post: who replaced them, when (the
    ``team_change`` row's time, Beijing time), why (the cause, not the note), who took the
    seat, and the text typed given back, escaped, to hand to the coordinator."""
    with Session(engine) as s:
        mine = col(TeamChange.credit_code) == code, col(TeamChange.withdrawn) == member
        change = s.exec(select(TeamChange).where(*mine)).one()
    at = local_label(change.recorded_at, get_settings().timezone)
    assert r.status_code == 403, r.text[:500]
    assert r.headers["cache-control"] == "no-store"
    assert "本次提交未保存" in r.text
    assert (f"您已被更换出本任务的检查组：协调员 {COORDINATOR} 于 {at} 将您更换"
            f"（{CAUSES['conflict']}），由 {seat} 接替") in r.text  # fmt: skip
    assert REPLACED_NOTE not in r.text and "粘贴到新链接" not in r.text
    assert TYPED in kept_boxes(r.text) and "<script>" not in r.text
    assert "限期整改" in kept_boxes(r.text)


def _replacement_stands(engine: sa.Engine, code: str, member: str, seat: str) -> None:
    """The seat is ``seat``'s, and the round's audit chain ends with the replacement: no write
    of the refused post came after it."""
    assert seat in teams(engine)[code] and member not in teams(engine)[code]
    with Session(engine) as s:
        chain = [e.event for e in audit.load_chain(s, ROUND)]
    assert chain[-1] == "MemberReplaced", chain[-5:]


@pytest.mark.parametrize("held_at", ["the draft's check", "the submission's transaction"])
def test_a_member_replaced_while_their_post_is_under_way_gets_its_text_back(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch,
    held_at: str,
) -> None:  # fmt: skip
    """The post let in by its first check, then held before a write's check (the draft's,
    its first; or ``findings.service.submit``, once the draft is saved) while the member is
    replaced: the write's check refuses it. Held before the draft, the draft is as it was;
    held before the submission, the draft saved while the member was on the team stays, and
    no version is recorded. Both databases: the replacement commits while the post holds no
    transaction."""
    base, drawn, _ = coordinator_live
    (code, (member, _)), *_ = sorted(drawn.items())
    seen: dict[str, Any] = {}

    def replace() -> None:
        seen["seat"] = replace_in_team(engine, code, member)
        seen["state"] = post_state(engine, code, member)

    at = (writes, "lock_writes") if held_at == "the draft's check" else (service, "submit")
    with httpx.Client(base_url=base, timeout=60) as http:
        path, form = _signed_in_with_a_draft(http, base, code, member)
        saved = post_state(engine, code, member)
        r = held_while(monkeypatch, at, lambda: http.post(path, data=form), meanwhile=replace)
        _refused_as_replaced(engine, r, code, member, seen["seat"])
        assert post_state(engine, code, member) == seen["state"]  # nothing written since
        draft, versions, _, _ = seen["state"]
        assert versions == 0
        if held_at == "the draft's check":
            assert draft == saved[0] and draft["description"] == SAVED
        else:  # saved before the replacement: the member's own, while on the team
            assert draft["description"] == TYPED
        again = http.get(path)  # kept nowhere: the page is the refusal
        assert again.status_code == 403 and "您已被更换出本任务的检查组" in again.text
        assert TYPED not in html.unescape(again.text)
    _replacement_stands(engine, code, member, seen["seat"])


@pytest.mark.postgres
def test_a_post_sent_while_a_replacement_is_under_way_waits_for_it_and_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replacement first: held inside its transaction (the seat moved, not committed)
    while the member posts. The post's first check reads the team as committed, the member on
    it; the write's check waits for the replacement, then reads it and refuses the post, with
    nothing saved: not the draft, not an audit entry. Before, the draft's check read the
    committed team and saved the draft, then queued behind the replacement on the audit
    chain. PostgreSQL only: SQLite serialises writers (the replacement holds the database's
    write lock, a write's ``BEGIN IMMEDIATE`` waits for it), so there is no read of a team
    being changed to get wrong, and no lock wait to see."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    base, drawn, _ = coordinator_live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    inside, go = replacement_held(monkeypatch)
    with httpx.Client(base_url=base, timeout=60) as http:
        path, form = _signed_in_with_a_draft(http, base, code, member)
        draft, versions, files, events = post_state(engine, code, member)
        with ThreadPoolExecutor(2) as pool:
            replacing = pool.submit(replace_in_team, engine, code, member)
            try:
                assert inside.wait(30), "the replacement never reached its hooks"
                posting = pool.submit(http.post, path, data=form)
                assert_blocked(engine, posting, "the post did not wait for the replacement")
            finally:
                go.set()
            seat = replacing.result(60)
            r = posting.result(60)
        _refused_as_replaced(engine, r, code, member, seat)
    assert post_state(engine, code, member) == (draft, versions, files, events + 1)
    assert draft is not None and draft["description"] == SAVED
    _replacement_stands(engine, code, member, seat)


@pytest.mark.postgres
def test_a_replacement_waits_for_a_write_that_checked_the_team_first(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """The write first: a submission that has checked the member's link (on the team) is
    about to write when the replacement starts; the replacement waits until the version is
    committed, then withdraws the member (the version is not final: one of two signed it).
    Before, the replacement went ahead and the write, going on, found the member off the team
    (NotOnTeam). PostgreSQL only, as above."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    _, drawn = live
    code = sorted(drawn)[0]
    member = drawn[code][0]
    checked_write_waited_for(engine, code, member, lambda: replace_in_team(engine, code, member),
                             "MemberReplaced")  # fmt: skip
    assert member not in teams(engine)[code]
