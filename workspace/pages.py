"""Rendering: the jinja2 environment (autoescape on), the refusal page, the stylesheet route."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.types import Scope

from api.auth import Role, allow
from findings.settings import FindingsSettings
from workspace import sessions
from workspace.attachments import size_label
from workspace.guards import PageRefused, back_link, page_path, sent_session, visitor
from workspace.origins import Fences, signs_in
from workspace.photo_form import ceiling

HERE = Path(__file__).parent
env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

# a date as the pages write one, with its time when it has one: 2026-12-07, 2026-12-07 00:57
DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}(?::\d{2})?)?", re.ASCII)


def whole_dates(value: object) -> Markup:
    """``value`` escaped as ever, each date in it (with its time) a ``<time>`` that
    workspace.css keeps on one line. Chromium breaks a line after a date's hyphen, so in a
    column of a 390 px page a round's 检查期间 read "2026-12-07 至 2026-" over "12-31"; CSS can
    keep a date whole only around an element of its own. The filter ``dates`` of the
    templates, for text shown in the page (never in an attribute or an ``<option>``)."""
    return Markup(DATE.sub(r"<time>\g<0></time>", str(escape(value))))


env.filters["dates"] = whole_dates
router = APIRouter(prefix="/w", include_in_schema=False)


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = env.get_template(name).render(**context)
    # Cache-Control, Referrer-Policy and the framing headers: workspace.origins, for every
    # answer under /w
    policy = "default-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": policy})


@router.get("/static/workspace.css", dependencies=[Depends(allow(Role.public))])
def stylesheet() -> Response:
    css = (HERE / "static" / "workspace.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


# what a refusal the framework makes (no such route, a method not taken, a body too large)
# says on a workspace page, by status; the people reading it use the workspace, not the API
ERRORS = {
    400: "请求无法读取。",
    404: "没有这个页面。请从通知中的链接或工作台首页进入。",
    405: "此页面不接受这种请求方式。",
    413: "提交的内容过大，超过了上限，未作任何更改。请缩短填写的内容后重新提交。",
    # a value the database cannot hold or compare (a NUL on PostgreSQL: api.problems)
    422: "链接地址或表单中有系统无法处理的字符（如控制字符 NUL），未作任何更改。"
    "请从工作台的页面重新打开后再提交。",
}
# a body too large where the form sends files: what makes it large. The inspector's form is
# read through up to a ceiling, its photos past the limit said on the form with the text kept
# (workspace.photo_form); a post declaring more than the ceiling is refused before it is read,
# so nothing of it can be given back: the browser's 返回 has what was typed
PHOTOS = ("提交的内容过大：一次提交不能超过 {ceiling}（其中照片和文件合计最多保存 {limit}），"
          "本次未读取，未保存任何内容。请用浏览器的“返回”回到表单（已填写的文字仍在），"
          "少选几张照片，先点“保存草稿”，再分几次添加其余的照片和文件。")  # fmt: skip
TOO_LARGE = [
    (re.compile(r"/w/a/[^/]+/[^/]+"), PHOTOS),
    (re.compile(r"/w/c/rounds/[^/]+/import"),
     "上传的文件过大，超过了上限，未导入任何内容。请把文件分成几份后分批导入。"),
]  # fmt: skip


NOT_OPENED = "无法打开此页面"
NOT_DONE = "未能完成这项操作"


def heading(request: Request) -> str:
    """What a refusal page is headed: a page asked for (GET) could not be opened; a form sent
    (保存, 提交, 撤回, 导入...) was not carried out, which "无法打开此页面" would not say."""
    return NOT_OPENED if request.method in ("GET", "HEAD") else NOT_DONE


def error_page(scope: Scope, status: int) -> HTMLResponse | None:
    """A framework refusal of a workspace path (``/w``...) as a page in Chinese, with 退出
    where the browser holds a session there, as the workspace's own refusals; None for any
    other path (the API answers with problem documents)."""
    request = Request(scope)
    path = request.url.path
    if path != "/w" and not path.startswith("/w/"):
        return None
    message = ERRORS.get(status, f"请求无法完成（{status}）。")
    if status == 413:
        message = next((m for p, m in TOO_LARGE if p.fullmatch(path)), message)
        if message is PHOTOS:
            limit = FindingsSettings().evidence_max_bytes
            message = PHOTOS.format(ceiling=size_label(ceiling(limit)), limit=size_label(limit))
    again = "" if status == 404 else back_link(path)
    return render("refused.html", status, message=message, again=again,
                  heading=heading(request), **signout_form(request))  # fmt: skip


def refused_page(status: int, message: str, scope: Scope) -> HTMLResponse:
    """The refusal page of a request, made outside the routes (``Fences``). A sign-in's has
    no 继续: it led to the link's address without its token (链接地址中没有令牌), as
    ``workspace.guards`` says of a link's own refusals; the message says what to do."""
    request = Request(scope)
    again = "" if signs_in(request.url.path) else back_link(request.url.path)
    return render("refused.html", status, message=message, again=again,
                  heading=heading(request), **signout_form(request))  # fmt: skip


def signout_form(request: Request) -> dict[str, str]:
    """退出 on a refusal page, as every page with a session carries it: the form's address
    and CSRF token of the session this browser sent to the path asked for (a genuine one,
    ``workspace.guards.sent_session``: 退出 takes it, revoked or not); nothing without one."""
    path = request.url.path
    pages = sessions.COORDINATOR_PAGES
    if path == pages or path.startswith(f"{pages}/"):
        made = sessions.cookie(request, sessions.COORDINATOR_COOKIE, pages)
        found = sent_session(request, made.name, Role.coordinator)
        return {"csrf": visitor(request, found).csrf} if found else {}
    parts = path.split("/")  # "", "w", "a", round, enterprise, ... (as the path reads, decoded)
    if parts[1:3] != ["w", "a"] or len(parts) < 5:
        return {}
    home = page_path(parts[3], parts[4])
    found = sent_session(request, sessions.cookie(request, sessions.INSPECTOR_COOKIE, home).name,
                         Role.inspector)  # fmt: skip
    if found is None or (found.round_key, found.credit_code) != (parts[3], parts[4]):
        return {}
    return {"csrf": visitor(request, found).csrf, "signout": f"{home}/signout"}


def install(app: FastAPI) -> None:
    """Refusals of workspace pages as pages, not problem documents: the workspace's own
    (``PageRefused``) and the framework's (``api.problems``, ``api.limits``); and, outside
    everything else, the origin check and headers of every workspace answer
    (``workspace.origins.Fences``: added last, so it runs first)."""
    app.add_middleware(Fences, page=refused_page)

    @app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> HTMLResponse:
        again = back_link(request.url.path if exc.back is None else exc.back)
        said = {"message": exc.message, "again": again, "heading": heading(request),
                **signout_form(request)}  # fmt: skip
        return render("refused.html", exc.status, **said)

    app.state.error_page = error_page
