"""The workspace's sessions as an attacker looks at them, with real requests to a real server
on both databases: cookies expired, of the other kind, of another round; a link opened twice;
a coordinator token replaced under an open session; the cookies' flags; and what every answer
under /w says to caches, frames and the Referer (``workspace.origins``)."""

from __future__ import annotations

import re
import time
from http.cookies import SimpleCookie

import httpx
import sqlalchemy as sa

from api import tokens
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.workspace.helpers import (
    COORDINATOR,
    PNG,
    coordinator_client,
    csrf_of,
    open_assignment,
    outbox_link,
    sign_in,
)
from workspace import sessions
from workspace.guards import COORDINATOR_REFUSED, NO_SESSION, coordinator_binding
from workspace.sessions import Session

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def _cookie(session: Session, *, now: float | None = None) -> str:
    """A cookie value this server signs (its secret), for ``session``."""
    value, _ = sessions.issue(get_settings().secret_key.get_secret_value(), session, now=now)
    return value


ELSEWHERE = "此地址是另一项检查任务"


def _flags(set_cookie: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    (morsel,) = jar.values()
    return {k: str(v) for k, v in morsel.items() if v} | {"name": morsel.key}


def test_cookies_expired_of_the_other_kind_or_of_another_round_open_nothing(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, teams, ssc = coordinator_live
    (code, team), (other, _) = sorted(teams.items())[:2]
    page = f"{base}/w/a/{ROUND}/{code}"
    inspector = Session("inspector", team[0], ROUND, code)
    coordinator = Session("coordinator", COORDINATOR, binding=coordinator_binding(ssc))
    assert httpx.get(page, cookies={"ssw_a": _cookie(inspector)}).status_code == 200
    assert httpx.get(f"{base}/w/c/", cookies={"ssw_c": _cookie(coordinator)}).status_code == 200
    stale = time.time() - sessions.LIFETIME_SECONDS - 5  # issued more than 12 hours ago
    refused = [
        (page, {"ssw_a": _cookie(inspector, now=stale)}, NO_SESSION),
        (f"{base}/w/c/", {"ssw_c": _cookie(coordinator, now=stale)}, "没有有效的协调员会话"),
        # one kind in the other's place, under the other's name or its own
        (page, {"ssw_a": _cookie(coordinator)}, NO_SESSION),
        (f"{base}/w/c/", {"ssw_c": _cookie(inspector)}, "没有有效的协调员会话"),
        (f"{base}/w/c/", {"ssw_a": _cookie(coordinator)}, "没有有效的协调员会话"),
        # another round's (or enterprise's) session of the same inspector on this page
        # (said to be another assignment's page, with the way to the one held)
        (page, {"ssw_a": _cookie(Session("inspector", team[0], "ccc-2026-11", code))}, ELSEWHERE),
        (page, {"ssw_a": _cookie(Session("inspector", team[0], ROUND, other))}, ELSEWHERE),
        # a coordinator session whose token binding is not the token's
        (f"{base}/w/c/", {"ssw_c": _cookie(Session("coordinator", COORDINATOR, binding="0" * 16))},
         COORDINATOR_REFUSED),
    ]  # fmt: skip
    for url, cookies, said in refused:
        r = httpx.get(url, cookies=cookies)
        assert r.status_code == 401 and said in r.text, (url, cookies, r.status_code)


def test_a_link_opened_twice_gives_two_sessions_each_with_its_own_token(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """Two devices (or two browsers) open the same notice: both work, each with its own CSRF
    token; one's token with the other's cookie is the stale form, refused, nothing saved."""
    base, teams, _ = coordinator_live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as phone, httpx.Client(base_url=base) as desk:
        path, on_phone = open_assignment(phone, base, code, team[0])
        _, on_desk = open_assignment(desk, base, code, team[0])
        assert phone.cookies["ssw_a"] != desk.cookies["ssw_a"]
        assert csrf_of(on_phone) != csrf_of(on_desk)
        crossed = phone.post(path, data={**FORM, "csrf": csrf_of(on_desk), "action": "save"})
        assert crossed.status_code == 403 and "不属于当前会话" in crossed.text
        for client, html in ((phone, on_phone), (desk, on_desk)):
            saved = client.post(path, data={**FORM, "csrf": csrf_of(html), "action": "save"})
            assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=1")


def test_a_coordinator_token_replaced_ends_the_open_session(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, _, ssc = coordinator_live
    with coordinator_client(base, ssc) as old:
        month = old.get("/w/c/")
        assert month.status_code == 200
        tokens.revoke(engine, COORDINATOR)
        new = tokens.create_coordinator(engine, COORDINATOR, get_settings().bureau_code)
        again = old.get("/w/c/")
        assert again.status_code == 401 and COORDINATOR_REFUSED in again.text
        posted = old.post(f"/w/c/rounds/{ROUND}/retry-dead", data={"csrf": "x"})
        assert posted.status_code == 401 and COORDINATOR_REFUSED in posted.text
    with coordinator_client(base, new) as fresh:
        assert fresh.get("/w/c/").status_code == 200


def test_session_cookies_are_httponly_strict_and_scoped_to_their_paths(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as client:
        opened = sign_in(client, f"/w/c/open?token={ssc}")
        with_link = sign_in(client, outbox_link(code, team[0], base))
    for r, path in ((opened, "/w/c"), (with_link, f"/w/a/{ROUND}/{code}")):
        flags = _flags(r.headers["set-cookie"])
        assert flags["httponly"] and flags["samesite"].lower() == "strict", flags
        assert flags["path"] == path and "domain" not in flags, flags
        # a session cookie: gone when the browser closes; the signed expiry ends it after 12 h
        assert "max-age" not in flags and "expires" not in flags, flags
        assert "secure" not in flags  # plain http on loopback; https: test_inspector_probe


HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


def _fenced(r: httpx.Response, what: str) -> None:
    for name, value in HEADERS.items():
        assert r.headers.get(name) == value, (what, name, dict(r.headers))
    assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), what


def test_every_workspace_answer_stays_out_of_caches_frames_and_referers(
    coordinator_live: tuple[str, dict, str],
) -> None:
    """A shared office computer's back button, cache or history shows no session's data;
    no page can be framed by another site; a page names itself in a Referer only to this
    site (its forms' Origin then too: ``no-referrer`` made Chromium send ``Origin: null``).
    Pages, redirects, refusals, exports and evidence alike; the stylesheet may be cached."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as inspector:
        path, html = open_assignment(inspector, base, code, team[0])
        sent = inspector.post(
            path,
            data={**FORM, "csrf": csrf_of(html), "action": "save"},
            files={"photo": ("gate.png", PNG, "image/png")},
        )
        assert sent.status_code == 303, sent.text[:300]
        page = inspector.get(path)
        found = re.search(rf'src="({re.escape(path)}/evidence/[0-9a-f]{{64}})"', page.text)
        assert found, "the draft's photo is shown"
        answers = {
            "the inspector's page": page,
            "a form's redirect": sent,
            "a photo": inspector.get(found.group(1)),
        }
    with coordinator_client(base, ssc) as desk:
        answers |= {
            "the sign-in page": desk.get(f"/w/c/open?token={ssc}"),
            "the sign-in redirect": sign_in(desk, f"/w/c/open?token={ssc}"),
            "the month": desk.get("/w/c/"),
            "a round": desk.get(f"/w/c/rounds/{ROUND}"),
            "an export": desk.get(f"/w/c/rounds/{ROUND}/findings.csv"),
            "a workbook": desk.get(f"/w/c/rounds/{ROUND}/assignments.xlsx"),
            "no such page": desk.get("/w/nope"),
            "no session": httpx.get(f"{base}/w/c/"),
        }
        css = desk.get("/w/static/workspace.css")
    for what, r in answers.items():
        assert r.status_code < 500, (what, r.status_code)
        _fenced(r, what)
    assert css.headers["cache-control"] == "max-age=3600"
    # the photo keeps its own sandbox, the framing added to it
    assert "sandbox" in answers["a photo"].headers["content-security-policy"]
    # no page links, loads or posts outside this server
    for what in ("the inspector's page", "the month", "a round"):
        for ref in re.findall(r'(?:href|src|action)="([^"]*)"', answers[what].text):
            assert ref.startswith(("/", "#", "?")) and not ref.startswith("//"), (what, ref)
