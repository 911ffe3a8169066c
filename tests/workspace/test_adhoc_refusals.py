"""Every refusal the service can give the ad hoc round page (its preview, its start, the
ceremony's step) is said in Chinese there (``workspace.adhoc.refusal``); the service keeps its
English for the CLI and the API.

The refusals are found in the source, not copied here: from the functions the page calls (the
preview, and the API's runners it starts the round and its ceremony through), every function
they name in ``rounds``, ``draw``, ``registry``, ``shuangsui.keys``, ``shuangsui.text`` and
``api.adhoc`` is read, transitively, and every exception raised with a message is taken, its
values filled in with ``7``. Each must come out of the page with no English left; and one that
names what the form can change (a rate, a division, a plan, a witness) must be said as such,
not in the general words said of the plan file's, the registry's data's or a key's grammar
(``workspace.adhoc.BY_KIND``). A new English refusal fails here until the page says it. A
real preview of a plan the registry does not fit, on both databases, shows it end to end."""

from __future__ import annotations

import ast
import html
import importlib
import inspect
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.adhoc import run_adhoc, run_draw
from api.app import create_app
from draw.errors import FrameError
from shuangsui.config import get_settings
from shuangsui.errors import PlanError, UserError
from shuangsui.keys import InvalidKey
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, sign_in
from tests.workspace.test_findings_import_reasons import _filled, _resolve  # source read alike
from workspace.adhoc import BY_KIND, LABELS, preview, refusal

FOLLOWED = ("rounds.", "draw.", "registry.", "shuangsui.keys", "shuangsui.text", "api.adhoc")
# where a refusal is the plan file's, the registry's data's or a key's grammar: said by its
# kind, in general words (the form cannot change them); every other is said as itself
SAID_BY_KIND = (
    "draw.plan.",  # a plan's own rules (reached through the overrides: ``overrides: ...``)
    "draw.canonical.",
    "rounds.plans.read_plan",  # a plan file not UTF-8
    "rounds.plans.plan_files",  # a link out of the plans folder
    "shuangsui.keys.",  # InvalidKey: a plan id or round key outside the grammar
)
# how the service hands on a ValueError of the draw's, by where it is raised (else as
# ``rounds.preflight.build_frames`` does: after the plan's name)
WRAPPED = {
    "draw.plan.normalise_rate": "overrides.rates.7: ",  # rounds.plans.apply_overrides
    "shuangsui.text._refused": "witnesses[7]: ",  # rounds.entropy.check_witnesses
}
PLAN = "ccc-2026-12"
# ASCII the page may say: a character's code, a plan's id (its own, or filled in)
CODE_POINT = re.compile(r"U\+[0-9A-F]{4,6}")


def _english(text: str) -> list[str]:
    """The English words in ``text``, once the values filled in or named are taken out."""
    text = CODE_POINT.sub("", text.replace(PLAN, "").replace("'7'", ""))
    return re.findall(r"[A-Za-z]+", text)


# ------------------------------------------------------------------ the refusals in the source
def _followed(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.startswith(FOLLOWED) and inspect.isfunction(obj)


def _raised_in(obj: Any, found: list[tuple[str, type, str | None]]) -> Iterator[Any]:
    """Add what ``obj`` raises to ``found`` (where, class, message); yield what it names that
    is to be read too. Names it imports in its body count as its module's."""
    scope = dict(sys.modules[obj.__module__].__dict__)
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            scope.update({a.asname or a.name: getattr(module, a.name, None) for a in node.names})
    where = f"{obj.__module__}.{obj.__qualname__}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute) and _followed(named := _resolve(node, scope)):
            yield named
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            cls = _resolve(node.exc.func, scope)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                message = _filled(node.exc.args[0]) if node.exc.args else None
                found.append((where, cls, message))


def service_refusals() -> list[tuple[str, type, str | None]]:
    """Every exception raised on the page's path: (where, class, message filled in)."""
    found: list[tuple[str, type, str | None]] = []
    todo: list[Any] = [preview, run_adhoc, run_draw]
    read: list[Any] = []
    while todo:
        obj = todo.pop()
        if not any(obj is r for r in read):
            read.append(obj)
            todo.extend(_raised_in(obj, found))
    return found


def _as_the_page_sees_it(where: str, cls: type, message: str | None) -> UserError | None:
    """The refusal the page is given for what ``where`` raises; None for what it is not given:
    a message that only wraps another's (``overrides: 7``, read where that one is raised),
    and what is the server's fault, not a refusal (a RuntimeError: a 500 and its log)."""
    if cls is InvalidKey:
        return InvalidKey("plan", "7", "plan id")
    if message is None or re.fullmatch(r"\S*: 7+", message):
        return None
    if issubclass(cls, UserError):
        return cls(message)
    if issubclass(cls, ValueError):  # the draw's, handed on as the plan's by rounds
        return PlanError(WRAPPED.get(where, "7: ") + message)
    return None


def _cases() -> list[tuple[str, type, str | None]]:
    return [case for case in service_refusals() if _as_the_page_sees_it(*case) is not None]


def test_the_source_is_read_whole() -> None:
    """The reader finds what it must (so the test below cannot pass on nothing)."""
    found = {(where, message) for where, _, message in service_refusals()}
    assert len(found) >= 40, found
    assert ("rounds.plans.apply_overrides",
            "overrides.rates.7: 7 is below the plan's 7; an ad hoc round may only raise a rate"
            ) in found  # fmt: skip
    assert ("draw.frame.build_enterprise_frame",
            "strata.rates: no rate for risk class '7' (enterprise 7)") in found  # fmt: skip
    assert ("rounds.entropy.check_witnesses", "witnesses[7]: 7") in found
    assert ("api.adhoc.run_draw",
            "witness_digits: the ceremony's digits are what this draw takes") in found  # fmt: skip
    assert any(where == "draw.plan._check_semantics" for where, _ in found)
    assert any(where == "shuangsui.text._refused" for where, _ in found)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c[0]}: {c[2]}")
def test_every_refusal_the_page_can_be_given_is_said_in_chinese(
    case: tuple[str, type, str | None],
) -> None:
    where, cls, _ = case
    exc = _as_the_page_sees_it(*case)
    assert exc is not None
    said = refusal(exc, PLAN)
    assert _english(said) == [], f"{where}: {exc} -> {said}"
    general = {text.format(plan=PLAN, label=LABELS["plan"]) for text in BY_KIND.values()}
    if not (where.startswith(SAID_BY_KIND) or issubclass(cls, FrameError)):
        assert said not in general, f"{where}: {exc} is said only in general words"


def test_each_kind_is_said_in_chinese() -> None:
    for kind, text in BY_KIND.items():
        assert _english(text.format(plan=PLAN, label=LABELS["plan"])) == [], kind
    assert list(BY_KIND)[-1] is UserError  # the page's catch: every refusal has its words


# ------------------------------------------------------------------ end to end
def test_a_plan_the_registry_does_not_fit_is_refused_in_chinese(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan by risk class with no rate for D, over a registry with firms of class D: the
    preview is refused (``draw.frame``), and the page says so in Chinese, naming the class."""
    seed_registry(engine)
    rates = "{A: '10%', B: '20%', C: '40%'}"
    plans_folder(tmp_path, monkeypatch, files={"ccc.yaml": plan_yaml(rates=rates)})
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base, timeout=120) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        form = http.get("/w/c/adhoc")
        data = {"csrf": csrf_of(form.text), "plan": PLAN, "reason": "投诉举报",
                "action": "preview"}  # fmt: skip
        r = http.post("/w/c/adhoc", data=data)
    assert r.status_code == 422, r.text[:300]
    found = re.search(r'id="errors"[^>]*>(.*?)</', r.text, re.S)
    assert found, r.text[:500]
    errors = html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))
    assert re.search(
        r"计划中没有 D 类企业的抽查比例，而名录库中的企业 [0-9A-Z]{18} 属于 D 类", errors
    )
    assert _english(re.sub(r"[0-9A-Z]{18}| D ", "", errors)) == [], errors
