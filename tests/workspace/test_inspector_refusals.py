"""The inspector's page says each refusal of a sign-off or a submission in Chinese, what
happened and what to do; the API's English (``findings.service``) stays the API's.

Over real HTTP on both databases: a version the finding does not have, no version yet, a
correction whose reason is only spaces, a certificate that is not the enterprise's. And a guard,
read in the source like ``test_findings_import_reasons``: every refusal ``sign_off`` and
``add_version`` raise is of a kind the page says by its type, so a new bare English refusal
fails here until it is; one of no kind the page knows is said without the API's English."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from findings import service
from shuangsui.errors import Conflict, NotFound, UserError
from tests.findings.factories import ROUND
from tests.workspace.helpers import FORM, csrf_of, errors_of, open_assignment, submitted
from workspace.inspector import refusal


def _english(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]{2,}", text)


def test_signing_a_version_the_finding_does_not_have_is_said_in_chinese(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    (none_yet, team_a), (one, team_b), *_ = sorted(teams.items())
    submitted(engine, one, team_b[0])
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, one, team_b[1])
        r = http.post(f"{path}/sign", data={"csrf": csrf_of(html), "version": "7"})
        assert r.status_code == 404
        said = errors_of(r.text)
        assert "没有第 7 版（最新的是第 1 版）。请刷新页面" in said
        assert _english(said) == [], said
        assert "未能签字确认" in r.text and "保存为草稿" not in r.text  # a signature, no draft
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, none_yet, team_a[1])
        r = http.post(f"{path}/sign", data={"csrf": csrf_of(html), "version": "1"})
        assert r.status_code == 404
        said = errors_of(r.text)
        assert "这家企业还没有已提交的检查结果，没有第 1 版。请刷新页面后再签字。" in said
        assert _english(said) == [], said
    assert service.history(engine, ROUND, none_yet).versions == []


def test_a_correction_without_a_reason_is_said_in_chinese(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """The reason field is required in the browser; spaces pass it and are no reason."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    submitted(engine, code, team[0])
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[1])
        form = {**FORM, "description": "复查后改写", "reason": "   ", "base_version": "1"}
        r = http.post(path, data={"csrf": csrf_of(html), **form, "action": "submit"})
        assert r.status_code == 409
        said = errors_of(r.text)
        assert "这是一次更正，请填写更正理由后再提交。" in said
        assert _english(said) == [], said
        assert "复查后改写" in r.text  # kept in the form
    assert len(service.history(engine, ROUND, code).versions) == 1


def test_a_certificate_not_the_enterprises_is_refused_in_chinese(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """A form naming a certificate the page did not offer (changed in the registry since the
    page was read, or a hand-made form): the field and the certificate named, and what to do,
    not the API's English (it said only 系统未接受这次提交, naming no field)."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        form = {**FORM, "cert:XX:1": "kept", "action": "submit"}
        r = http.post(path, data={"csrf": csrf_of(html), **form})
        assert r.status_code == 422
        said = errors_of(r.text)
        named = f"证书处理：XX 1 不是这家企业（{code}）的证书（名录库可能已更新），"
        assert named + "请刷新页面后重新选择。" in said
        assert (
            "系统未接受这次提交" not in said
            and _english(said.replace("XX", "").replace(code, "")) == []
        ), said
    assert service.history(engine, ROUND, code).versions == []


def test_a_certificate_without_a_number_is_refused_in_chinese(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """A hand-made form naming a certificate by its body alone (``cert:XX:``, no number): the
    field named and what is wrong in Chinese; it said pydantic's English, "String should have
    at least 1 character"."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        form = {**FORM, "cert:XX:": "kept", "action": "submit"}
        r = http.post(path, data={"csrf": csrf_of(html), **form})
        assert r.status_code == 422
        said = errors_of(r.text)
        assert "证书处理“XX ”：不能为空（至少 1 个字）" in said, said
        assert _english(said.replace("XX", "")) == [], said
    assert service.history(engine, ROUND, code).versions == []


# ------------------------------------------------------------------ the guard, in the source
def _raised_in(function: Any) -> list[type[BaseException] | Any]:
    """What each ``raise X(...)`` of ``function``'s source calls: an exception class, or a
    function of :mod:`findings.service` that makes one (``superseded``)."""
    scope = vars(inspect.getmodule(function))
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            assert isinstance(node.exc.func, ast.Name), ast.unparse(node)
            out.append(scope[node.exc.func.id])
    return out


# one refusal of each kind the page says by its type, and what the sign-off page says of it
SAID = {
    service.NotOnTeam: (service.NotOnTeam("x is not on the team of C", ["x"], ["a", "b"]),
                        "您不在这家企业本轮的检查组中，不能签字。请刷新页面；如有疑问，请联系协调员。"),
    service.NoSuchVersion: (service.NoSuchVersion("R/C has no version 3 (latest: 2)", 3, 2),
                            "没有第 3 版（最新的是第 2 版）。请刷新页面，阅读最新版本后再签字。"),
    service.VersionCapReached: (service.VersionCapReached("R", "C"),
                                f"这家企业的检查结果已有 {service.MAX_VERSIONS} 版，已到上限，"
                                "不能再提交更正。如确需更正，请联系协调员。"),
}  # fmt: skip


@pytest.mark.parametrize("function", [service.sign_off, service.add_version])
def test_every_refusal_of_a_sign_off_or_a_version_is_of_a_kind_the_page_says(
    function: Any,
) -> None:
    """``add_version`` is what the page's 提交 runs (``submit``), after the content's checks
    (said as ``workspace.forms.in_chinese`` says them)."""
    raised = _raised_in(function)
    assert service.superseded in raised  # the reader finds the raises (not passing on nothing)
    for made in raised:
        if made is service.superseded:
            continue  # a Conflict naming the version there now: ``came_first`` says whose
        assert made not in (UserError, NotFound, Conflict), f"a bare {made.__name__}: say it"
        assert made in SAID, f"{made.__name__}: add it to the page's refusal() and here"


@pytest.mark.parametrize("kind", list(SAID), ids=lambda k: k.__name__)
def test_each_kind_is_said_in_chinese(kind: type[UserError]) -> None:
    exc, said = SAID[kind]
    assert refusal(exc, "签字") == said
    assert _english(refusal(exc, "提交")) == []
    assert _english(said) == []


def test_a_refusal_of_no_known_kind_shows_no_english() -> None:
    said = refusal(
        UserError(f"evidence: {'a' * 64} was not uploaded (upload the file first)"), "提交"
    )
    assert said == "系统未接受这次提交。请刷新页面后重试；如仍不成，请联系协调员。"
    cert = refusal(UserError("certificates: XX 1 is not a certificate of C"), "提交")
    assert (
        cert == "证书处理：XX 1 不是这家企业（C）的证书（名录库可能已更新），请刷新页面后重新选择。"
    )
    busy = refusal(Conflict("finding R/C is being changed by too many writers at once"), "签字")
    assert busy == "同时有多人在修改这家企业的检查结果，未能签字。请刷新页面后重试。"
    dated = refusal(UserError("check_date: 2027-01-05 is in the future (today is x)"), "提交")
    assert dated == "检查日期 2027-01-05 晚于今天，请填写实际检查的日期。"
