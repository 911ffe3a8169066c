"""The coordinator's risk classes (信用风险分类): an enterprise's class in force and why, in
Chinese. A shell over ``risk.explain`` (what ``shuangsui risk explain`` and ``GET /risk/{code}``
give), said by ``risk.words``; ``/w/c/risk`` finds an enterprise by its credit code."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from registry import uscc
from risk import words
from risk.explain import explain
from shuangsui.errors import NotFound
from workspace.guards import PageRefused, Visitor, coordinator_session
from workspace.leadforms import said
from workspace.pages import render

router = APIRouter(prefix="/w/c", include_in_schema=False)
Coordinator = Annotated[Visitor, Depends(coordinator_session)]
BASE = "/w/c/risk"
CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")  # the shape of a credit code (GB 32100)
NOT_FOUND = "名录库中没有统一社会信用代码为 {0} 的企业。"


def risk_path(credit_code: str) -> str:
    return f"{BASE}/{credit_code}"


def _refusal(typed: str) -> str:
    """Why ``typed`` (upper case, stripped) is no credit code (named by its label, in Chinese,
    as the leads' form says it), or an empty string."""
    problem = uscc.problem(typed, uscc.load_whitelist())
    return said("credit_code", problem) if problem else ""


@router.get("/risk")
def lookup(request: Request, me: Coordinator) -> Response:
    """A credit code typed (``?code=``): its enterprise's page; else the form, with what is
    wrong with the code, or that the registry does not hold it."""
    typed = request.query_params.get("code", "").strip().upper()[:40]
    refused = _refusal(typed) if typed else ""
    if typed and not refused:
        try:
            explain(request.app.state.engine, typed)
        except NotFound:
            refused = NOT_FOUND.format(typed)
        else:
            return RedirectResponse(risk_path(typed), status_code=303)
    return render("risk_lookup.html", 422 if refused else 200, me=me.name, csrf=me.csrf,
                  base=BASE, typed=typed, refused=refused)  # fmt: skip


@router.get("/risk/{credit_code}")
def class_page(credit_code: str, request: Request, me: Coordinator) -> Response:
    """The class in force and where it comes from (the classification, an override or the
    registry); the points behind it line by line, the bounds of the classes, every override
    with who asked, who approved and why, and the enterprise's classes over time."""
    code = credit_code.strip().upper()
    if not CODE.fullmatch(code):
        raise PageRefused(404, "地址中的统一社会信用代码有误：应为 18 位数字或大写字母。", BASE)
    try:
        doc = explain(request.app.state.engine, code)
    except NotFound:
        raise PageRefused(404, NOT_FOUND.format(code), BASE) from None
    zone = request.app.state.settings.timezone
    view: dict[str, Any] = {"doc": doc, "class_said": words.class_said(doc["class"]),
                            "source_said": words.SOURCES[doc["source"]]}  # fmt: skip
    c = doc["classification"]
    if c is not None:
        view |= {
            "lines": words.lines(c),
            "bounds_said": words.bounds_said(c["bounds"]),
            "by_score": words.by_score(c["score"], c["bounds"]),
            "computed_at": words.when(c["computed_at"], zone),
        }
    overrides = [
        o | {"class_said": words.class_said(o["class"]),
             "requested": words.when(o["requested_at"], zone),
             "approved": words.when(o["approved_at"], zone)}
        for o in doc["overrides"]
    ]  # fmt: skip
    return render("risk.html", me=me.name, csrf=me.csrf, base=BASE, view=view, overrides=overrides,
                  class_said=words.class_said)  # fmt: skip
