"""A refusal page's 继续 leads to a page. A form's own address (``…/e/{code}/redate``,
``…/sign``, ``…/leads/{id}/accept``) has no page: refused (a form expired, from another
site, too large), the page's 继续 went to it, and the browser got a 405."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui import config
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import COORDINATOR, delivered_round, sign_in
from workspace.guards import back_link


def test_every_forms_refusal_links_to_a_page_that_opens(engine: sa.Engine) -> None:
    """For every POST route under /w, the refusal's 继续 is an address the app answers
    with GET (its route matched for GET), never the POST-only address itself."""
    app = create_app(engine=engine)
    routes = [key.split(" ", 1) for key in app.state.route_roles]  # "METHODS path"
    gets = {p for methods, p in routes if "GET" in methods}
    posts = sorted(p for methods, p in routes if p.startswith("/w/") and "POST" in methods)
    assert len(posts) >= 12, posts
    for path in posts:
        assert back_link(path) in gets, (path, back_link(path))


def test_a_redate_form_refused_links_back_to_its_enterprise(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 延期 form sent with a stale CSRF token: 403, and 继续 opens the enterprise's page."""
    teams = delivered_round(engine, monkeypatch)
    code = sorted(teams)[0]
    ssc = tokens.create_coordinator(engine, COORDINATOR, config.get_settings().bureau_code)
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as client:
        assert sign_in(client, f"/w/c/open?token={ssc}").status_code == 303
        r = client.post(f"{page}/redate", data={"csrf": "stale", "due_on": "2027-01-20",
                                               "reason": "企业停产"})  # fmt: skip
        assert r.status_code == 403, r.text[:300]
        assert f'href="{page}">继续' in r.text, r.text[:800]
        assert client.get(page).status_code == 200
