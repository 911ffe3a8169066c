"""Who may call a route. Every route declares its roles with :func:`allow`; the app refuses to
start when one does not (see :func:`check_routes`).

* ``public``: anyone.
* ``inspector``: the token from the inspector's notification. It is an HMAC over (round,
  enterprise, inspector) — ``notifications.links.assignment_token`` — so it opens that one
  assignment and nothing else. It is checked against each team member with a constant-time
  comparison; the matching member is the caller, unless the link expired with its round, was
  revoked, or the inspector is inactive (``api.inspector_tokens``). A member's link of a
  generation a coordinator ended (``notifications.generations``) is refused as replaced; the
  link of a member withdrawn from the team since (a replacement) is refused as theirs, saying
  who withdrew them, when and who took the seat (``inspector_tokens.replaced_member``).
* ``coordinator``: a token from ``shuangsui tokens create-coordinator`` (only its SHA-256 is
  stored), valid for the bureau it was issued for until ``tokens revoke-coordinator``.

A token comes as ``Authorization: Bearer <token>`` or, for links, ``?token=<token>``. Tokens
are printable ASCII; anything else is refused with 401 before it is compared. The address is
read strictly (:func:`query_refusal`), as a TLS proxy in front logs it: one ``token``
parameter at most, its name written as is (no link of ours percent-encodes it), and a
coordinator's token only in the workspace's sign-in link, never in an address of the API.
One token a request (:func:`header_refusal`): two ``Authorization`` headers, or a bearer token
in the header and another in the address, are refused, as which one counts is not the
server's to guess (a proxy in front may read the other).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlmodel import Session

from api import inspector_tokens, tokens
from api.problems import TOKEN_REFUSED, Problem

ROLES_ATTR = "__shuangsui_roles__"
MAX_TOKEN_LENGTH = 256
QUERY_NAME = "token"
USE_THE_HEADER = "or send 'Authorization: Bearer <token>'"
TOKEN_REPEATED = (
    "more than one 'token' parameter in the address: send one token (the link in your "
    f"notification has exactly one), {USE_THE_HEADER}"
)
TOKEN_NAME_ENCODED = (
    "the name of the 'token' parameter is percent-encoded: shuangsui's links write it as "
    f"'?token=': copy the whole link from your notification, {USE_THE_HEADER}"
)
AUTHORIZATION_REPEATED = (
    "more than one Authorization header: send one, 'Authorization: Bearer <token>' "
    "(which one would count is not the server's to guess)"
)
TOKEN_TWICE = (
    "a token in the Authorization header and another in the address (?token=): send one "
    "token, in the header or in the address, not two"
)
COORDINATOR_IN_QUERY = (
    "a coordinator token is not taken in the address (?token=) by the API, where proxies log "
    "it: send it as 'Authorization: Bearer <token>' (only the workspace's sign-in link "
    "/w/c/open?token=... takes it in the address)"
)


class Role(enum.StrEnum):
    public = "public"
    inspector = "inspector"
    coordinator = "coordinator"


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str = ""  # inspector id or coordinator name
    round_key: str = ""
    credit_code: str = ""
    generation: int = 0  # an inspector's: the generation of the link (notifications.generations)

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}" if self.name else self.role.value


def bearer(request: Request) -> str:
    """The request's token: the ``Authorization: Bearer`` header's, else the ``token``
    parameter's (a request whose address :func:`query_refusal` refuses never gets this far)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get(QUERY_NAME, "").strip()


def _token_names(request: Request) -> list[str]:
    """The query's parameter names, as sent, that the framework reads as ``token`` (it
    percent-decodes names, ``+`` as a space, as ``urllib.parse.parse_qsl`` does)."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    names = (piece.partition("=")[0] for piece in query.split("&") if piece)
    return [name for name in names if unquote_plus(name) == QUERY_NAME]


def _in_the_api(request: Request) -> bool:
    """The request's route is one of the API's (described in its OpenAPI document); the
    workspace's pages, its sign-in links among them, are not."""
    return bool(getattr(request.scope.get("route"), "include_in_schema", True))


def query_refusal(request: Request) -> Problem | None:
    """Why the ``token`` in the request's address is refused, if it is: given twice (which
    one would count?), its name percent-encoded (no link of ours is written so; a filter
    looking for ``token=`` would miss it), or a coordinator's token in an address of the API
    (``/w/c/open?token=ssc_...``, the workspace's sign-in link, takes it there: its token is
    exchanged for a session at once). 401 each, whatever the ``Authorization`` header says."""
    names = _token_names(request)
    if len(names) > 1:
        return Problem(401, TOKEN_REPEATED, slug="token-repeated")
    if names and names[0] != QUERY_NAME:
        return Problem(401, TOKEN_NAME_ENCODED, slug="token-name-encoded")
    sent = request.query_params.get(QUERY_NAME, "").strip()
    if sent.startswith(tokens.PREFIX) and _in_the_api(request):
        return Problem(401, COORDINATOR_IN_QUERY, slug="token-in-query")
    return None


def header_refusal(request: Request) -> Problem | None:
    """Why the request's tokens are refused, if they are: two ``Authorization`` headers
    (the framework reads the first, a proxy may read the last), or a bearer token in the
    header and a different one in the address (the header's was taken and the address's, the
    one a proxy logs, passed over). 401 each. The same token in both places is one token; a
    header of another scheme (``Basic``, from a proxy's own sign-in) is not a token."""
    if len(request.headers.getlist("authorization")) > 1:
        return Problem(401, AUTHORIZATION_REPEATED, slug="authorization-repeated")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    in_header = value.strip() if scheme.lower() == "bearer" else ""
    in_address = request.query_params.get(QUERY_NAME, "").strip()
    if in_header and in_address and in_header != in_address:
        return Problem(401, TOKEN_TWICE, slug="token-twice")
    return None


def _coordinator(request: Request, token: str) -> Principal | None:
    row = tokens.lookup(request.app.state.engine, token)
    if row is None or row.bureau_code != request.app.state.settings.bureau_code:
        return None
    return Principal(Role.coordinator, row.name)


def well_formed(token: str) -> bool:
    """Printable ASCII of a sane length: the alphabet of every token shuangsui issues."""
    return len(token) <= MAX_TOKEN_LENGTH and token.isascii() and token.isprintable()


def _inspector(request: Request, token: str) -> Principal | None:
    round_key = request.path_params.get("round_key")
    credit_code = request.path_params.get("credit_code")
    if not (round_key and credit_code):
        return None
    settings = request.app.state.settings
    with Session(request.app.state.engine) as session:
        found = inspector_tokens.load(session, round_key, credit_code)
        if found is None:
            return None
        secret = settings.secret_key.get_secret_value()
        match = inspector_tokens.match(
            secret, round_key, credit_code, found.team, token, found.generations
        )
        refused = (
            inspector_tokens.replaced(
                secret, round_key, credit_code, found, token, settings.bureau_name
            )
            or inspector_tokens.replaced_member(
                session, round_key, credit_code, found, token, settings
            )
            if match is None
            else inspector_tokens.refusal(found, match, round_key, settings)
        )
    if refused is not None:
        raise Problem(refused.status, refused.detail, slug=refused.slug)
    if match is None:
        return None
    generation = found.generations.get(match, 0)
    return Principal(Role.inspector, match, round_key, credit_code, generation)


def still_allowed(request: Request, who: Principal) -> Callable[[Session], None] | None:
    """For a write by ``who``: the check of their token again, inside the write's own
    transaction (``shuangsui.writes.write``): an inspector's link
    (``api.inspector_tokens.still_open``), a coordinator's token (``api.tokens.still_current``,
    answered as :func:`allow` answers a revoked one); None for the public."""
    settings = request.app.state.settings
    if who.role is Role.inspector:
        return inspector_tokens.still_open(
            settings, who.round_key, who.credit_code, who.name, who.generation
        )
    if who.role is Role.coordinator:
        binding = tokens.token_hash(bearer(request))
        return tokens.still_current(who.name, settings.bureau_code, binding)
    return None


def allow(*roles: Role) -> Callable[[Request], Principal]:
    """A dependency that admits callers holding one of ``roles`` and returns who they are."""
    wanted = frozenset(roles)

    def guard(request: Request) -> Principal:
        refused = query_refusal(request) or header_refusal(request)
        if refused is not None:
            if Role.public in wanted:
                return Principal(Role.public)
            raise refused
        return admit(request, bearer(request), wanted)

    setattr(guard, ROLES_ATTR, wanted)
    return guard


def admit(request: Request, token: str, wanted: frozenset[Role]) -> Principal:
    """Who ``token`` is, when one of ``wanted`` (:func:`allow`'s check, however the token
    came: the workspace's sign-in form sends it in its body)."""
    if token and not well_formed(token):
        if Role.public in wanted:
            return Principal(Role.public)
        raise Problem(
            401,
            "the token is not one shuangsui issued (tokens are printable ASCII, at most "
            f"{MAX_TOKEN_LENGTH} characters): copy the whole link from your notification",
            slug="token-malformed",
        )
    if not token:
        if Role.public in wanted:
            return Principal(Role.public)
        raise Problem(
            401,
            "send your token as 'Authorization: Bearer <token>' (inspectors: "
            "the token in your notification link)",
            slug="token-missing",
        )
    if token.startswith(tokens.PREFIX):
        who = _coordinator(request, token)
    else:
        who = _inspector(request, token)
    if who is None:
        if Role.public in wanted:
            return Principal(Role.public)
        raise Problem(403, TOKEN_REFUSED, slug="token-refused")
    if who.role not in wanted and Role.public not in wanted:
        allowed = ", ".join(sorted(r.value for r in wanted))
        raise Problem(
            403,
            f"a {who.role.value} may not call this route (allowed: {allowed})",
            slug="role-refused",
        )
    return who


def declared_roles(dependant: Dependant) -> set[str]:
    """The roles declared anywhere in a route's dependency tree."""
    found: set[str] = set()
    for dep in dependant.dependencies:
        roles = getattr(dep.call, ROLES_ATTR, None)
        if roles is not None:
            found |= {str(r) for r in roles}
        found |= declared_roles(dep)
    return found


def _route_contexts(app: FastAPI) -> list[Any]:
    try:  # FastAPI >= 0.150 keeps included routers lazily; this flattens them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI: routes are flat already
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def check_routes(app: FastAPI) -> dict[str, set[str]]:
    """Every route with its roles; raise naming the routes that declare none.

    Only the OpenAPI document and its documentation pages are public without a declaration.
    """
    builtin = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    builtin.add(getattr(app.state, "docs_assets_url", None))  # the pages' scripts (api.docs)
    table: dict[str, set[str]] = {}
    missing = []
    for route in _route_contexts(app):
        path = getattr(route, "path", None)
        key = f"{','.join(sorted(getattr(route, 'methods', None) or ['*']))} {path}"
        dependant = getattr(route, "dependant", None)
        if (
            not isinstance(
                route.original_route if hasattr(route, "original_route") else route, APIRoute
            )
            or dependant is None
        ):
            if path in builtin:
                table[key] = {Role.public.value}
            else:
                missing.append(key)
            continue
        roles = declared_roles(dependant)
        if not roles:
            missing.append(key)
        table[key] = roles
    if missing:
        raise RuntimeError(
            "routes without a declared role (add Depends(allow(Role....))): " + "; ".join(missing)
        )
    return table
