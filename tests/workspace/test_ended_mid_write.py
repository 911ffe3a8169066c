"""A member's link ended (作废原链接并重新发送, ``relink --end-old``) while a write through it is
under way, as a revocation is (``test_revoked_mid_write``): an ending that commits while the
write waits between its guard and its write refuses it, the page giving back what the post
carried and nothing saved; a write that has checked the link first commits first, and the
ending waits for it (PostgreSQL's row locks)."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from findings.history import history
from notifications.relink import Relinked, relink
from shuangsui import writes
from tests.findings.factories import ROUND
from tests.races import held_while
from tests.workspace.helpers import checked_write_waited_for, csrf_of, open_assignment

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def _end(engine: sa.Engine, member: str, code: str) -> Relinked:
    """``member``'s link to ``code`` ended as ``relink --end-old`` ends it."""
    return writes.write(engine, lambda s: relink(
        s, round_key=ROUND, inspector_id=member, credit_code=code, by="李协调",
        reason="手机遗失", end_old=True), what="the test's ending")  # fmt: skip


def test_a_submission_whose_link_is_ended_meanwhile_is_refused_and_given_back(
    live: tuple[str, dict], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base, timeout=60) as http:
        path, page = open_assignment(http, base, code, team[0])
        form = {"csrf": csrf_of(page), **FORM, "base_version": "0", "action": "submit"}
        r = held_while(monkeypatch, (writes, "lock_writes"), lambda: http.post(path, data=form),
                       meanwhile=lambda: _end(engine, team[0], code))  # fmt: skip
    assert r.status_code == 403 and "此链接已被作废并更换" in r.text, r.text[:500]
    assert "本次提交未保存" in r.text and FORM["description"] in r.text
    assert history(engine, ROUND, code).versions == []


@pytest.mark.postgres
def test_an_ending_waits_for_a_write_that_checked_the_link_first(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    _, teams = live
    code, team = sorted(teams.items())[0]
    checked_write_waited_for(engine, code, team[0], lambda: _end(engine, team[0], code),
                             "LinkEnded")  # fmt: skip
