"""Rendering: the jinja2 environment (autoescape on), the refusal page, the stylesheet route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.auth import Role, allow
from workspace.guards import PageRefused

HERE = Path(__file__).parent
env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(prefix="/w", include_in_schema=False)


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = env.get_template(name).render(**context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; img-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/static/workspace.css", dependencies=[Depends(allow(Role.public))])
def stylesheet() -> Response:
    css = (HERE / "static" / "workspace.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


def install(app: FastAPI) -> None:
    """Refusals of workspace pages as pages, not problem documents."""

    @app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> HTMLResponse:
        return render("refused.html", exc.status, message=exc.message, again=request.url.path)
