"""A coordinator's view of an enterprise's risk class: the inputs and points behind it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam

from api.auth import Principal, Role, allow
from api.problems import PROBLEM_RESPONSES, Problem
from risk.explain import explain
from shuangsui.errors import NotFound

router = APIRouter(tags=["coordinator"], responses=PROBLEM_RESPONSES)
Coordinator = Annotated[Principal, Depends(allow(Role.coordinator))]
CreditCode = Annotated[
    str, PathParam(pattern="^[0-9A-HJ-NPQRTUWXY]{18}$", description="统一社会信用代码")
]


@router.get("/risk/{credit_code}")
def risk_class(credit_code: CreditCode, request: Request, who: Coordinator) -> dict[str, Any]:
    """The class in force, the classification and points behind it, overrides and history."""
    try:
        return explain(request.app.state.engine, credit_code)
    except NotFound as exc:
        raise Problem(404, str(exc), slug="not-found") from None
