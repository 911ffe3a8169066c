"""A session cookie sent twice (workspace/guards.py ``sent_session``; workspace/sessions.py
``cookie_values``): a browser holding two cookies of one name (a sibling host's ``Domain=``
cookie, a path-scoped one beside ours) sends both in one ``Cookie`` header, and Starlette's
``request.cookies`` kept the last. So a forged or stale value sent after the genuine session
signed the person out, and another person's genuine session sent after theirs made the page act
as that other person. Now the raw header is read: the one value that verifies is taken, a value
that does not verify beside it is ignored, and two that verify (two different people, or two
sessions of one) open nothing: a 401 page naming the cookie and the cause, nothing written.
Each order, one header or two, over real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session as DbSession
from sqlmodel import select

from api import tokens
from rounds.models import DueChange
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.workspace.helpers import COORDINATOR
from workspace import sessions
from workspace.guards import TWO_SESSIONS, coordinator_binding
from workspace.sessions import Session

OTHER = "王协调"  # a second coordinator of the bureau, with a token of their own


def _signed(session: Session, secret: str | None = None) -> str:
    """A cookie value for ``session`` signed with ``secret`` (default: this server's)."""
    key = get_settings().secret_key.get_secret_value() if secret is None else secret
    return sessions.issue(key, session)[0]


def _coordinator(engine: sa.Engine, ssc: str) -> tuple[str, str, str]:
    """Three cookie values: the coordinator's genuine session, one signed with another key
    (forged), and another coordinator's genuine session."""
    other = tokens.create_coordinator(engine, OTHER, get_settings().bureau_code)
    mine = _signed(Session("coordinator", COORDINATOR, binding=coordinator_binding(ssc)))
    forged = _signed(Session("coordinator", OTHER, binding=coordinator_binding(other)), "x" * 40)
    theirs = _signed(Session("coordinator", OTHER, binding=coordinator_binding(other)))
    return mine, forged, theirs


def _get(url: str, *values: str, split: bool = False) -> httpx.Response:
    """``url`` with the cookie ``ssw_c`` sent once per value: in one header, or one each."""
    pairs = [f"ssw_c={v}" for v in values]
    headers = [("Cookie", p) for p in pairs] if split else [("Cookie", "; ".join(pairs))]
    return httpx.get(url, headers=headers, timeout=30)


@pytest.mark.parametrize("split", [False, True], ids=["one-header", "two-headers"])
def test_a_forged_value_beside_the_genuine_session_is_ignored_in_either_order(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, split: bool
) -> None:
    base, _, ssc = coordinator_live
    mine, forged, _ = _coordinator(engine, ssc)
    for values in ((mine, forged), (forged, mine)):
        page = _get(f"{base}/w/c/", *values, split=split)
        assert page.status_code == 200, page.text[:300]
        assert COORDINATOR in page.text and OTHER not in page.text


@pytest.mark.parametrize("split", [False, True], ids=["one-header", "two-headers"])
def test_two_genuine_sessions_open_nothing_and_the_page_says_why(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, split: bool
) -> None:
    base, _, ssc = coordinator_live
    mine, _, theirs = _coordinator(engine, ssc)
    said = TWO_SESSIONS.format(cookie="ssw_c")
    for values in ((mine, theirs), (theirs, mine)):
        page = _get(f"{base}/w/c/", *values, split=split)
        assert page.status_code == 401, page.text[:300]
        assert said in page.text and "请清除本网站的 Cookie" in said
        assert OTHER not in page.text and f"{COORDINATOR}</" not in page.text


def test_two_genuine_sessions_write_nothing(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """A form sent with the other person's session after one's own (their form token too)."""
    base, drawn, ssc = coordinator_live
    mine, _, theirs = _coordinator(engine, ssc)
    code = sorted(drawn)[0]
    secret = get_settings().secret_key.get_secret_value()
    read = sessions.read(secret, theirs)
    assert read is not None
    sent = {"csrf": sessions.csrf_token(secret, read), "due_on": "2027-01-20", "reason": "企业停业"}
    r = httpx.post(f"{base}/w/c/rounds/{ROUND}/e/{code}/redate", data=sent, timeout=30,
                   headers={"Cookie": f"ssw_c={mine}; ssw_c={theirs}"})  # fmt: skip
    assert r.status_code == 401 and "两个不同的有效会话" in r.text, r.text[:300]
    with DbSession(engine) as s:
        assert s.exec(select(DueChange)).all() == []


def test_an_inspector_s_session_beside_a_forged_one_opens_their_page(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, teams, _ = coordinator_live
    code, team = sorted(teams.items())[0]
    genuine = _signed(Session("inspector", team[0], ROUND, code))
    forged = _signed(Session("inspector", team[1], ROUND, code), "y" * 40)
    also = _signed(Session("inspector", team[1], ROUND, code))  # their teammate's, genuine
    page = f"{base}/w/a/{ROUND}/{code}"
    for values in ((genuine, forged), (forged, genuine)):
        r = httpx.get(page, headers={"Cookie": "; ".join(f"ssw_a={v}" for v in values)})
        assert r.status_code == 200, r.text[:300]
    for values in ((genuine, also), (also, genuine)):
        r = httpx.get(page, headers={"Cookie": "; ".join(f"ssw_a={v}" for v in values)})
        assert r.status_code == 401 and TWO_SESSIONS.format(cookie="ssw_a") in r.text
