"""RFC 9457 problem details: every error of the API, from one place."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shuangsui.errors import Conflict, ImportRejected, NotFound, UserError

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


class ProblemDetails(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDetails, "content": {MEDIA_TYPE: {}}, "description": desc}
    for code, desc in (
        (401, "No token, or an unknown one"),
        (403, "The token does not open this resource"),
        (404, "Not found"),
        (413, "The request body is larger than the route's limit"),
        (422, "The request cannot be carried out as sent"),
    )
}


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str = "",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.status, self.detail, self.slug, self.extra = status, detail, slug, extra
        self.headers = headers  # e.g. another WWW-Authenticate than Bearer on a 401


def problem_response(
    status: int, detail: str, slug: str = "", headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:shuangsui:problem:{slug}" if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v is not None},
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error_page(app: Any, path: str, status: int) -> Response | None:
    """The page the app shows for a refusal of ``path`` instead of a problem document, if any
    (``app.state.error_page``: the workspace sets it for its own paths)."""
    page = getattr(getattr(app, "state", None), "error_page", None)
    return page(path, status) if page is not None else None


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        headers = exc.headers or ({"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)
        return problem_response(exc.status, exc.detail, exc.slug, headers, **exc.extra)

    @app.exception_handler(ImportRejected)
    async def _rejected(_: Request, exc: ImportRejected) -> JSONResponse:
        errors = [vars(p) for p in exc.problems]
        return problem_response(422, str(exc), "import-rejected", errors=errors, total=exc.total)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem_response(404, str(exc), "not-found")

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return problem_response(409, str(exc), "conflict", **exc.details)

    @app.exception_handler(UserError)
    async def _user(_: Request, exc: UserError) -> JSONResponse:
        return problem_response(422, str(exc), "invalid-request")

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # a value the database cannot hold or compare, e.g. a NUL character on PostgreSQL
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        logger.warning(
            "%s %s: the database refused a value: %s", request.method, request.url.path, reason
        )
        detail = f"a value in the request cannot be stored or looked up: {reason}"
        return problem_response(422, detail, "invalid-value")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"]),
                "reason": str(e["msg"]).removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
        return problem_response(
            422, f"fix these fields and send again: {detail}", "invalid-fields", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if (page := error_page(request.app, request.url.path, exc.status_code)) is not None:
            return page  # a workspace path: a page for a person (workspace.pages)
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path} (see /openapi.json for the routes)"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(exc.status_code, detail)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return problem_response(500, "an unexpected error occurred; it has been logged")
