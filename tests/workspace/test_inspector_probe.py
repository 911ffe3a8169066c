"""What a hostile probe of a served workspace found on the inspectors' pages, over real HTTP:
a refusal page that linked back to the token the request carried (``;token=``); a version
replaced by a correction still "待 X 签字" in the history; a 409 from a second tab that
blamed "同组" for the inspector's own submission; an evidence file named ``..`` stored and
served under that name; no bound on the versions one finding may have; session cookies not
``Secure`` behind the bureau's https address."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.app import create_app
from findings import service
from findings.models import Evidence
from findings.schemas import FindingIn
from shuangsui import config
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import (
    PNG,
    csrf_of,
    delivered_round,
    open_assignment,
    outbox_link,
    sign_in,
)

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def _finding(description: str, reason: str = "") -> FindingIn:
    return FindingIn.model_validate({**FORM, "description": description, "reason": reason})


def _button(html: str) -> str:
    found = re.search(r'<a class="button" href="([^"]*)">继续', html)
    return found.group(1) if found else ""


def test_a_refusal_page_never_links_back_to_the_token_it_was_sent(
    live: tuple[str, dict],
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    token = outbox_link(code, team[0], base).rpartition("token=")[2]
    with httpx.Client(base_url=base) as http:
        for path in (
            f"/w/open/{ROUND}/{code};token={token}",
            f"/w/open/{ROUND}/{code}%3Btoken%3D{token}",
            f"/w/a/{ROUND}/{code};token={token}",
        ):
            r = http.get(path)
            assert r.status_code == 401, (path, r.text[:300])
            assert token not in r.text, path
            # a link's refusal has no 继续 (its address without the token opens nothing)
            assert _button(r.text) in ("", f"/w/a/{ROUND}/{code}"), path


def test_a_superseded_version_awaits_nobodys_signature(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    lead, other = team[0], team[1]
    service.submit(engine, round_key=ROUND, credit_code=code, data=_finding("初次"),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    service.submit(engine, round_key=ROUND, credit_code=code, data=_finding("更正", "日期有误"),
                   submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    with httpx.Client(base_url=base) as http:
        _, html = open_assignment(http, base, code, other)
    history = html[html.index('id="history"') :]
    first = history[history.index("第 1 版 ·") :]
    first = first[: first.index("</details>")]
    assert "已被第 2 版更正" in first and "待" not in first and "未签字" not in first
    second = history[history.index("第 2 版 ·") :]
    assert "待" in second[: second.index("</summary>")]  # the latest still awaits its signature


def test_a_conflict_says_who_came_first_the_inspector_themself_or_a_teammate(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    lead, other = team[0], team[1]
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text("select inspector_id, name from inspector")).all())
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, lead)  # the first tab, no version yet
        service.submit(engine, round_key=ROUND, credit_code=code, data=_finding("另一个标签页"),
                       submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
        form = {"csrf": csrf_of(html), **FORM, "base_version": "0", "action": "submit"}
        late = http.post(path, data={**form, "description": "第一个标签页"})
        assert late.status_code == 409, late.text[:300]
        assert "您本人已于" in late.text and "提交了第 1 版" in late.text
        assert "同组" not in late.text
        assert re.search(r"您本人已于 \d{4}-\d\d-\d\d \d\d:\d\d", late.text)
        # a teammate's version: named, with when
        service.submit(engine, round_key=ROUND, credit_code=code,
                       data=_finding("组员更正", "补充说明"),
                       submitted_by=f"inspector:{other}", signers=[other])  # fmt: skip
        late = http.post(path, data={"csrf": csrf_of(html), **FORM, "base_version": "1",
                                     "reason": "我的更正", "action": "submit"})  # fmt: skip
        assert late.status_code == 409, late.text[:300]
        assert f"同组已提交第 2 版（{names[other]}（{other}）于 " in late.text
        assert "您本人" not in late.text
        # signing a version corrected since the page was read: said the same way
        signed = http.post(f"{path}/sign", data={"csrf": csrf_of(html), "version": "1"})
        assert signed.status_code == 409, signed.text[:300]
        assert f"您要签字的第 1 版已不是最新：同组已提交第 2 版（{names[other]}" in signed.text
        assert "is superseded" not in signed.text


def test_a_file_named_dot_dot_is_refused_on_the_page(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        for name in ("..", "."):
            r = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "draft"},
                          files={"photo": (name, PNG, "image/png")})  # fmt: skip
            assert r.status_code == 422, r.text[:300]
            assert f"文件“{name}”未保存：文件名只有点或空格" in r.text
    with Session(engine) as db:
        assert list(db.exec(select(Evidence))) == []


def test_versions_stop_at_the_cap_on_the_page(live: tuple[str, dict], engine: sa.Engine) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    lead = team[0]
    for n in range(1, service.MAX_VERSIONS + 1):
        service.submit(engine, round_key=ROUND, credit_code=code,
                       data=_finding(f"第 {n} 次", "" if n == 1 else f"更正 {n}"),
                       submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, lead)
        r = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "submit",
                                  "base_version": str(service.MAX_VERSIONS),
                                  "reason": "再改一次"})  # fmt: skip
        assert r.status_code == 422, r.text[:300]
        assert f"已有 {service.MAX_VERSIONS} 版，已到上限" in r.text
    assert len(service.history(engine, ROUND, code).versions) == service.MAX_VERSIONS


@pytest.mark.parametrize(("public", "secure"), [("https://ss.example.gov.cn", True),
                                                ("http://127.0.0.1:8350", False)])  # fmt: skip
def test_session_cookies_are_secure_behind_an_https_address(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, public: str, secure: bool
) -> None:
    """Behind the bureau's TLS proxy (SHUANGSUI_PUBLIC_BASE_URL https) the cookie is Secure,
    even over the proxy's plain hop to the server; the loopback demo (http) keeps one a
    browser sends back."""
    from api import tokens

    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", public)
    config.get_settings.cache_clear()
    teams = delivered_round(engine, monkeypatch)
    code, team = sorted(teams.items())[0]
    ssc = tokens.create_coordinator(engine, "李协调", config.get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        # the button's form comes from the public address (``workspace.origins``)
        opened = sign_in(http, outbox_link(code, team[0], base), Origin=public)
        signed_in = sign_in(http, f"/w/c/open?token={ssc}", Origin=public)
    for r in (opened, signed_in):
        assert r.status_code == 303, r.text[:300]
        cookie = r.headers["set-cookie"]
        assert ("; secure" in cookie.lower()) is secure, cookie
        assert urlsplit(r.headers["location"]).path.startswith("/w/")
