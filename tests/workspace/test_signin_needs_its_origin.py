"""A sign-in POST (the link page's button: the inspector's ``/w/open/{round}/{enterprise}``,
the coordinator's ``/w/c/open``) must say where it came from: our own ``Origin``, or without
one our own ``Referer``. With neither it is refused (403, a page in Chinese), no cookie, no
``WorkspaceOpened``: a sign-in has no session and so no CSRF token to decide instead, as the
other forms' does. A browser posting the page's own form sends one of them; an API client
sends its token as ``Authorization: Bearer`` and never uses this form
(``workspace.origins``). Over real HTTP on both databases."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from api.app import create_app
from api.auth import _route_contexts
from rounds.models import AuditEvent
from tests.findings.factories import ROUND
from tests.workspace.helpers import outbox_link, sign_in_form
from workspace import guards, origins

UNSAID = "没有注明来源"


def _opened(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(AuditEvent).where(AuditEvent.event == "WorkspaceOpened")).all())


def test_a_sign_in_with_neither_origin_nor_referer_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """The inspector's and the coordinator's valid tokens posted with neither header (a
    script, or a page that hides both): 403 in Chinese, nothing set or recorded, and the link
    still opens as a person opens it, its button sending our ``Origin`` or our ``Referer``."""
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    inspector = sign_in_form(httpx.get(outbox_link(code, team[0], base)))
    coordinator = sign_in_form(httpx.get(f"{base}/w/c/open?token={ssc}"))
    for action, token in (inspector, coordinator):
        r = httpx.post(action, data={"token": token})
        assert r.status_code == 403, (action, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html") and 'lang="zh-CN"' in r.text
        assert UNSAID in r.text and "Origin" in r.text and "Referer" in r.text, r.text[:500]
        assert "set-cookie" not in r.headers and token not in r.text
        assert "继续" not in r.text  # it led to the link without its token: 链接地址中没有令牌
    assert _opened(engine) == 0
    (i_action, i_token), (c_action, c_token) = inspector, coordinator
    by_origin = httpx.post(i_action, data={"token": i_token}, headers={"Origin": base})
    assert by_origin.status_code == 303 and "set-cookie" in by_origin.headers
    by_referer = httpx.post(
        c_action, data={"token": c_token}, headers={"Referer": f"{base}/w/c/open"}
    )
    assert by_referer.status_code == 303 and "set-cookie" in by_referer.headers
    assert _opened(engine) == 2


def _signs_in(route: Any) -> bool:
    """Whether a route's dependencies read a sign-in form's token."""
    calls = {dep.call for dep in getattr(route, "dependant", None).dependencies}
    return bool(calls & {guards.inspector_form, guards.coordinator_form})


def test_every_sign_in_route_is_one_the_rule_knows(engine: sa.Engine) -> None:
    """The rule names the sign-in addresses (it runs before routing): every route taking a
    sign-in form is one of them, and no other form's address is."""
    app = create_app(engine=engine)
    found = [r for r in _route_contexts(app) if getattr(r, "dependant", None) is not None]
    sign_ins = {r.path for r in found if _signs_in(r) and "POST" in r.methods}
    assert sign_ins == {"/w/open/{round_key}/{credit_code}", "/w/c/open"}, sign_ins
    for route in found:
        concrete = route.path.replace("{round_key}", ROUND).replace("{credit_code}", "X")
        concrete = concrete.replace("{lead_id}", "1")
        if "POST" in getattr(route, "methods", set()) and route.path.startswith("/w/"):
            assert origins.signs_in(concrete) == (route.path in sign_ins), route.path
