"""RFC 9457 problem details: every error of the API, from one place."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from api.inspector_tokens import LinkRefused
from api.semantics import allow, sent_method
from api.tokens import CoordinatorRefused
from shuangsui.errors import Conflict, ImportRejected, NotFound, UserError

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
# a token that opens nothing here (``api.auth.allow``), and a coordinator's token revoked
# while its write was under way (``api.tokens.CoordinatorRefused``)
TOKEN_REFUSED = (
    "this token does not open this resource: an inspector's token opens only its own "
    "assignment; a coordinator token may be revoked or belong to another bureau"
)
# what the framework says of a JSON body its reader gave up on (text not UTF-8, nested deeper
# than the reader goes), and what the API says instead: naming the body, as for any input
UNREAD_BODY = "There was an error parsing the body"
BODY_NOT_READ = "body: not JSON this server can read (UTF-8 text, not nested a thousand deep)"


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


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """``[{"field": "query.start", "reason"}]``, one for each input out of its schema."""
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]),
            "reason": str(e["msg"]).removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]


def _not_json(request: Request, exc: RequestValidationError) -> str | None:
    """The media type a JSON body was sent as ("" when no ``Content-Type`` came), when that is
    why it was refused: the framework reads a body as JSON only when its ``Content-Type`` says
    so (a body without one is not read as JSON either: a page of another site can send one),
    and otherwise validated its bytes, answering ``body: Input should be a valid dictionary``,
    a field error for a body that may hold every field right (``text/plain``, a form, a
    program that set no type)."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    if any(tuple(e["loc"]) == ("body",) and e["type"] != "missing" for e in exc.errors()):
        return media  # a body came (none at all: ``body: Field required``, said as it is)
    return None


def invalid_parameters(exc: RequestValidationError) -> Problem:
    """422 ``invalid-parameter`` whose detail starts with the parameter at fault
    (``start: not an integer …``), the shape docs/exchange-protocol.md promises partners."""
    errors = _field_errors(exc)
    detail = "; ".join(f"{e['field'].split('.', 1)[-1]}: {e['reason']}" for e in errors[:5])
    return Problem(422, detail, slug="invalid-parameter", errors=errors)


class ParameterRoute(APIRoute):
    """A route whose invalid inputs are answered by :func:`invalid_parameters` rather than the
    API's ``invalid-fields`` (``APIRouter(route_class=ParameterRoute)``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise invalid_parameters(exc) from None

        return handle


def error_page(app: Any, scope: Scope, status: int) -> Response | None:
    """The page the app shows for a refusal of the request of ``scope`` instead of a problem
    document, if any (``app.state.error_page``: the workspace sets it for its own paths)."""
    page = getattr(getattr(app, "state", None), "error_page", None)
    return page(scope, status) if page is not None else None


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        headers = exc.headers or ({"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)
        return problem_response(exc.status, exc.detail, exc.slug, headers, **exc.extra)

    @app.exception_handler(LinkRefused)
    async def _link_refused(request: Request, exc: LinkRefused) -> JSONResponse:
        # a write whose link was revoked after the request's own check: the same answer
        r = exc.refused
        return await _problem(request, Problem(r.status, r.detail, slug=r.slug))

    @app.exception_handler(CoordinatorRefused)
    async def _coordinator_refused(request: Request, exc: CoordinatorRefused) -> JSONResponse:
        # a coordinator's write whose token was revoked after the request's own check
        return await _problem(request, Problem(403, TOKEN_REFUSED, slug="token-refused"))

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
    async def _unstorable(request: Request, exc: DataError) -> Response:
        # a value the database cannot hold or compare, e.g. a NUL character on PostgreSQL
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        logger.warning(
            "%s %s: the database refused a value: %s", request.method, request.url.path, reason
        )
        if (page := error_page(request.app, request.scope, 422)) is not None:
            return page  # a workspace path: a page for a person (workspace.pages)
        detail = f"a value in the request cannot be stored or looked up: {reason}"
        return problem_response(422, detail, "invalid-value")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if (media := _not_json(request, exc)) is not None:
            sent = f"Content-Type: {media} is not JSON" if media else "no Content-Type was sent"
            detail = f"{sent}: send the body as application/json"
            errors = [{"field": "header.content-type", "reason": detail}]
            return problem_response(415, detail, "unsupported-media-type", errors=errors)
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
        return problem_response(
            422, f"fix these fields and send again: {detail}", "invalid-fields", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allow(request)  # the framework names only one route's methods
        if (page := error_page(request.app, request.scope, exc.status_code)) is not None:
            page.headers.update(headers)
            return page  # a workspace path: a page for a person (workspace.pages)
        detail = str(exc.detail)
        if exc.status_code == 400 and detail == UNREAD_BODY:
            errors = [{"field": "body", "reason": BODY_NOT_READ.removeprefix("body: ")}]
            return problem_response(400, BODY_NOT_READ, "invalid-body", errors=errors)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path} (see /openapi.json for the routes)"
        elif exc.status_code == 405:
            detail = f"{sent_method(request)} is not allowed on {request.url.path}"
        return problem_response(exc.status_code, detail, headers=headers or None)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> Response:
        # the client hung up before the end of its body: nothing was done, nobody reads an answer
        logger.warning(
            "%s %s: the client closed the connection before the end of its body",
            sent_method(request),
            request.url.path,
        )
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return problem_response(500, "an unexpected error occurred; it has been logged")
