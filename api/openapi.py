"""The OpenAPI document says every error a route can answer, from one place.

Routes declare only their success; the errors follow from who may call a route and what it
takes, so they are added here to every operation of the document (``install``), as RFC 9457
problem details (``api.problems``):

* 401, 403: a route that is not public (no or unknown credentials; a credential that does not
  open this resource or role).
* 404: a route that is not public (what the request names does not exist).
* 422: a route that takes parameters or a body (a field out of its schema).
* 400, 413: a route that writes (POST, PUT, PATCH) or takes a body: the body is not JSON or
  was cut off (400), or is larger than the server accepts (413).
* 415: a route that takes a JSON body: the body was sent as another media type.
* 409: a route of the bureau's own people that writes: someone else's write won a race.

The API's fuzz test (``tests/api/test_fuzz.py``) holds the server to this document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from api.auth import Role
from api.problems import MEDIA_TYPE, ProblemDetails

WRITES = frozenset({"post", "put", "patch"})
REF = "#/components/schemas/ProblemDetails"
WHY = {
    400: "The body is not well-formed JSON, or it was cut off",
    401: "No credentials, or unknown ones",
    403: "The credentials do not open this resource",
    404: "Not found",
    409: "A concurrent write came first; read again and retry",
    413: "The request body is larger than the server accepts",
    415: "The body's Content-Type is not JSON (application/json)",
    422: "A field is out of its schema, or the request cannot be carried out as sent",
}


def problem_statuses(method: str, roles: Iterable[str], operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation may answer, by its method, its roles and its inputs."""
    held, writes = set(roles), method.lower() in WRITES
    guarded = Role.public.value not in held
    out: set[int] = set()
    if guarded:
        out |= {401, 403, 404}
    if operation.get("parameters") or "requestBody" in operation:
        out.add(422)
    if writes or "requestBody" in operation:
        out |= {400, 413}
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        out.add(415)
    if writes and guarded and held & {Role.inspector.value, Role.coordinator.value}:
        out.add(409)
    return out


def _problem(status: int, declared: dict[str, Any] | None) -> dict[str, Any]:
    description = (declared or {}).get("description") or WHY.get(status)
    return {
        "description": description or HTTPStatus(status).phrase,
        "content": {MEDIA_TYPE: {"schema": {"$ref": REF}}},
    }


def _roles_by_operation(app: FastAPI) -> dict[tuple[str, str], set[str]]:
    table: dict[tuple[str, str], set[str]] = {}
    for key, roles in app.state.route_roles.items():
        methods, _, path = key.partition(" ")
        for method in methods.split(","):
            table[(method.lower(), path)] = set(roles)
    return table


def declare_problems(app: FastAPI, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with each operation's error responses declared as problem details."""
    roles = _roles_by_operation(app)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["ProblemDetails"] = ProblemDetails.model_json_schema()
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            wanted = problem_statuses(method, roles.get((method, path), set()), operation)
            for status in sorted(wanted | {int(s) for s in responses if s.startswith("4")}):
                responses[str(status)] = _problem(status, responses.get(str(status)))
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, now unused
        if f'"#/components/schemas/{name}"' not in json.dumps(doc):
            schemas.pop(name, None)
    return doc


def install(app: FastAPI) -> None:
    """Declare the problems in the app's OpenAPI document each time FastAPI builds it (once,
    and again after ``app.openapi_schema`` is reset, as ``api.app.include_router`` does)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_problems(app, build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
