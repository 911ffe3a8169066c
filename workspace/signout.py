"""退出: the workspace session ended in this browser, for a shared office computer.

One route per cookie, at an address under the cookie's own Path (a browser sends a cookie only
there, and drops it only for a ``Set-Cookie`` with the same name and Path). A POST with the
session's CSRF token, never a GET (a link prefetch would sign out); a POST from another origin
is refused before it gets here (``workspace.origins``). Without a session (already signed out,
expired, another browser's copy gone) the same page: signing out twice is no error.

Sessions are stateless (``workspace.sessions``): 退出 removes the cookie from this browser; a
copy of its value taken before still opens the pages until its signed expiry. Revoking the
link or the coordinator token ends a session everywhere.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.auth import Role, allow
from rounds import audit
from workspace import sessions
from workspace.events import WorkspaceClosed
from workspace.guards import check_csrf, page_path, sent_session, visitor
from workspace.pages import render

router = APIRouter(prefix="/w", include_in_schema=False)
anyone = [Depends(allow(Role.public))]  # no session is the same page, not a refusal

KINDS = {sessions.COORDINATOR_COOKIE: Role.coordinator, sessions.INSPECTOR_COOKIE: Role.inspector}
AGAIN = {
    "coordinator": "如需再次进入，请重新打开协调员令牌链接。",
    "inspector": "如需再次进入，请重新打开通知中的链接。",
}


async def _sign_out(
    request: Request, found: sessions.Session | None, cookie: str, pages: str
) -> Response:
    """With a session, its CSRF token first (403 and still signed in without it); then the
    cookie cleared and the page saying so, session or none; a session ended is audited
    (``WorkspaceClosed``, as its opening is)."""
    kind = KINDS[cookie].value
    if found is not None:
        await check_csrf(request, visitor(request, found))
        closed = WorkspaceClosed(kind, found.subject, found.credit_code)
        await run_in_threadpool(
            audit.append, request.app.state.engine, found.round_key or None, closed
        )
    response = render("signed_out.html", again=AGAIN[kind])
    sessions.clear_cookie(response, sessions.cookie(request, cookie, pages))
    return response


@router.post("/c/signout", dependencies=anyone)
async def coordinator_signout(request: Request) -> Response:
    pages = sessions.COORDINATOR_PAGES
    made = sessions.cookie(request, sessions.COORDINATOR_COOKIE, pages)
    found = sent_session(request, made.name, Role.coordinator)
    return await _sign_out(request, found, sessions.COORDINATOR_COOKIE, pages)


@router.post("/a/{round_key}/{credit_code}/signout", dependencies=anyone)
async def inspector_signout(round_key: str, credit_code: str, request: Request) -> Response:
    pages = page_path(round_key, credit_code)
    made = sessions.cookie(request, sessions.INSPECTOR_COOKIE, pages)
    found = sent_session(request, made.name, Role.inspector)
    if found is not None and (found.round_key, found.credit_code) != (round_key, credit_code):
        found = None  # another assignment's cookie is not sent here (its own Path, or name)
    return await _sign_out(request, found, sessions.INSPECTOR_COOKIE, pages)
