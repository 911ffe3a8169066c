"""The shuangsui HTTP API (served by ``shuangsui serve``).

Adding routes (for example the partner exchange)::

    from api.app import create_app
    app = create_app(routers=[partner_router])

or, for a router that should always be served, list it in :data:`EXTRA_ROUTERS` (a module path
``"package.module:router"``). Every route of such a router must declare who may call it with
``Depends(api.auth.allow(...))``; :func:`create_app` refuses to build an app with a route that
does not. A new role (e.g. a partner bureau identified by its signature key) is a dependency
with the attribute ``api.auth.ROLES_ATTR`` set to its role names.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from api import docs, limits, openapi, problems, semantics
from api.adhoc import run_adhoc, run_draw, wait_for_running
from api.auth import check_routes
from api.routes import coordinator, findings, public, risk
from findings.settings import FindingsSettings
from shuangsui.config import Settings, get_settings

logger = logging.getLogger(__name__)

# "module:attribute" of routers included in every app, after the built-in ones.
EXTRA_ROUTERS: list[str] = [
    "exchange.api:router",  # the partner exchange (/exchange/v1)
    "joint.routes:router",  # joint rounds between bureaus (/exchange/v1/joint)
    "workspace.pages:router",  # the bureau's web workspace (/w): stylesheet
    "workspace.inspector:router",  # the inspector's assignment pages
    "workspace.coordinator:router",  # the coordinator's month, rounds and exports
    "workspace.adhoc:router",  # the coordinator's ad hoc round form and ceremony
    "workspace.leads:router",  # the coordinator's leads: list, intake, triage
    "workspace.riskpages:router",  # the coordinator's risk classes: a class and why
    "workspace.imports:router",  # the coordinator's findings import, from a round's page
    "workspace.signout:router",  # 退出, for the coordinator's and the inspector's cookie
    "workspace.assistance:router",  # the coordinator's 执法协查: partners' requests answered
    "workspace.joint_pages:router",  # the coordinator's 联合抽查: joint rounds, next steps
    "leads.api:router",  # the coordinator's leads (/leads)
    "api.replacements:router",  # a team member replaced after the draw (§14)
]


def _load(spec: str) -> APIRouter:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr or "router")  # type: ignore[no-any-return]


def include_router(app: FastAPI, router: APIRouter, **kwargs: Any) -> None:
    """Add a router to a built app and re-check that every route declares its roles."""
    app.include_router(router, **kwargs)
    app.openapi_schema = None
    app.state.route_roles = check_routes(app)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from notifications.link_key import watch  # a key rotated since: no start, or a stop
    from notifications.settings import NotifySettings

    settings = app.state.settings
    key = await watch(app.state.engine, settings.secret_key.get_secret_value(),
                      NotifySettings().key_check_seconds,
                      checked=getattr(app.state, "key_checked", False))  # fmt: skip
    yield
    key.cancel()
    # a clean stop lets rounds started by POST /rounds/adhoc finish (commit and draw are short)
    left = wait_for_running(timeout=120)
    if left:
        logger.warning("stopping with ad hoc rounds still running: %s", ", ".join(left))


def _limit_bodies(app: FastAPI, settings: Settings) -> None:
    """Bodies are bounded before routing and authentication (api/limits.py)."""
    evidence_upload = f"{findings.router.prefix}/evidence"  # the file is the raw body
    # the workspace's findings form, with photos: read through up to a ceiling, its files
    # stored up to ``big`` together and the rest said (workspace.photo_form)
    photos = "/w/a/{round_key}/{credit_code}"
    big = FindingsSettings().evidence_max_bytes
    from workspace.imports import MAX_BYTES as IMPORT_MAX_BYTES
    from workspace.photo_form import ceiling

    findings_file = "/w/c/rounds/{round_key}/import"  # a round's filled-in template
    body_limits = limits.BodyLimits(
        settings.api_max_body_bytes,
        {evidence_upload: big, photos: ceiling(big), findings_file: IMPORT_MAX_BYTES},
    )
    app.add_middleware(limits.LimitBodies, limits=body_limits)
    app.add_exception_handler(limits.BodyTooLarge, limits.handle_too_large)


def create_app(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    routers: Sequence[APIRouter] = (),
    adhoc_runner: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    draw_runner: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> FastAPI:
    """The API app; raises RuntimeError when any route lacks a declared role."""
    from shuangsui.db import get_engine

    settings = settings or get_settings()
    app = FastAPI(
        title="shuangsui",
        version="1",
        summary="双随机、一公开: findings of spot checks, for inspectors and coordinators",
        description="Errors are RFC 9457 problem details (application/problem+json). "
        "Inspectors authenticate with the token from their notification; coordinators with a "
        "token from `shuangsui tokens create-coordinator`.",
        lifespan=_lifespan,
        docs_url=None,  # served by api.docs, with assets from this server rather than a CDN
        redoc_url=None,
        # no 307 to the path with or without a trailing slash: its URL would be built from the
        # Host header, before authentication; each route answers at exactly its path
        redirect_slashes=False,
    )
    docs.install(app)
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings)
    app.state.adhoc_runner = adhoc_runner or run_adhoc
    app.state.draw_runner = draw_runner or run_draw  # a committed round's ceremony
    problems.install(app)
    _limit_bodies(app, settings)
    app.add_middleware(semantics.AnswerHead)  # HEAD as GET without the body
    for router in (public.router, findings.router, coordinator.router, risk.router, *routers):
        app.include_router(router)
    for spec in EXTRA_ROUTERS:
        app.include_router(_load(spec))
    from workspace.pages import install as install_pages

    install_pages(app)  # workspace refusals as pages
    app.state.route_roles = check_routes(app)
    openapi.install(app)  # every route's problem responses, by its roles and inputs
    logger.info(
        "API with %d routes for bureau %s", len(app.state.route_roles), settings.bureau_code
    )
    return app
