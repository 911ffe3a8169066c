"""The inspector's assignment page over real HTTP: the link becomes a session, the session
opens only its assignment, forms need their CSRF token, the finding goes from draft to final."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from notifications.models import Notification, NotificationKind
from registry.models import Certificate, CertificateStatus
from rounds.models import AuditEvent
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.servers import serve_app
from tests.workspace.helpers import PNG, csrf_of, delivered_round, outbox_link, sign_in


def _open(http: httpx.Client, link: str) -> httpx.Response:
    first = sign_in(http, link)
    assert first.status_code == 303, first.text
    return first


def test_the_link_becomes_a_session_and_leaves_the_address(live: tuple[str, dict]) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    link = outbox_link(code, team[0], base)
    with httpx.Client(base_url=base) as http:
        first = _open(http, link)
        assert first.headers["location"] == f"/w/a/{ROUND}/{code}"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert f"Path=/w/a/{ROUND}/{code}" in cookie and "Secure" not in cookie
        page = http.get(first.headers["location"])
    assert page.status_code == 200
    assert "token" not in str(page.url) and 'lang="zh-CN"' in page.text
    assert code in page.text and "待填报" in page.text and "北京时间" in page.text
    assert 'capture="environment"' in page.text and "未发现问题" in page.text


def test_certificates_are_named_in_chinese_in_the_notice_and_on_the_page(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """The inspector reads a certificate's kind and status as words (the registry keeps their
    values): the notice as they were when it was sent, the page as they are now."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    with Session(engine) as s:
        cert = s.exec(select(Certificate).where(Certificate.credit_code == code)).one()
        (notice,) = [
            n.body
            for n in s.exec(select(Notification).where(Notification.recipient == team[0]))
            if n.kind == NotificationKind.assignment and n.payload["credit_code"] == code
        ]
        number = cert.number
        cert.status = CertificateStatus.suspended
        s.add(cert)
        s.commit()
    assert f"CQC {number}（强制性产品认证，有效）" in notice
    with httpx.Client(base_url=base) as http:
        page = http.get(_open(http, outbox_link(code, team[0], base)).headers["location"])
    assert f"CQC {number}（强制性产品认证，暂停）" in page.text
    for code_word in ("ccc", "valid", "suspended"):
        assert f"（{code_word}" not in notice + page.text


def test_the_cookie_is_secure_only_behind_a_trusted_tls_proxy(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    https = {"X-Forwarded-Proto": "https"}
    link = outbox_link(code, team[0], base)
    # uvicorn trusts loopback's X-Forwarded-Proto by default (FORWARDED_ALLOW_IPS): the
    # page's origin is then https, and so is its form's
    own = base.replace("http://", "https://")
    with httpx.Client() as http:
        assert "Secure" in sign_in(http, link, Origin=own, **https).headers["set-cookie"]
    untrusting = serve_app(create_app(engine=engine), forwarded_allow_ips="10.9.9.9")
    with untrusting as other, httpx.Client() as http:
        link = outbox_link(code, team[0], other)
        assert "Secure" not in sign_in(http, link, **https).headers["set-cookie"]


def test_a_session_opens_only_its_own_assignment(live: tuple[str, dict], engine: sa.Engine) -> None:
    base, teams = live
    (code, team), (other, other_team) = sorted(teams.items())[:2]
    outsider = next(i for i in other_team if i not in team)
    with httpx.Client(base_url=base) as http:
        first = _open(http, outbox_link(code, team[0], base))
        session = http.cookies.get("ssw_a")
        assert session
        # the same cookie sent to another assignment's page and its photos
        for path in (f"/w/a/{ROUND}/{other}", f"/w/a/{ROUND}/{other}/evidence/{'0' * 64}"):
            r = httpx.get(base + path, headers={"Cookie": f"ssw_a={session}"})
            assert r.status_code == 401 and "另一项检查任务" in r.text  # and the way to its own
        # a forged or altered cookie
        r = httpx.get(base + first.headers["location"], headers={"Cookie": f"ssw_a={session}x"})
        assert r.status_code == 401
    # another inspector's token on this assignment, the token on another assignment
    token = outbox_link(other, outsider, base).rsplit("token=", 1)[1]
    refused = httpx.get(f"{base}/w/open/{ROUND}/{code}?token={token}")
    assert refused.status_code == 403 and "此链接不能打开这项任务" in refused.text
    assert refused.headers["content-type"].startswith("text/html")
    mine = outbox_link(code, team[0], base).rsplit("token=", 1)[1]
    assert httpx.get(f"{base}/w/open/{ROUND}/{other}?token={mine}").status_code == 403
    # a coordinator token is not an inspector's link
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    assert httpx.get(f"{base}/w/open/{ROUND}/{code}?token={ssc}").status_code == 403


def test_a_form_without_its_csrf_token_is_refused(live: tuple[str, dict]) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    form = {"result": "no_problem", "check_date": "2026-12-10", "action": "submit"}
    with httpx.Client(base_url=base) as http:
        page = http.get(_open(http, outbox_link(code, team[0], base)).headers["location"])
        path = urlsplit(str(page.url)).path
        for sent in ({}, {"csrf": "0" * 64}):
            r = http.post(path, data={**form, **sent})
            assert r.status_code == 403 and "CSRF" in r.text
        r = http.post(f"{path}/sign", data={"version": "1"})
        assert r.status_code == 403
        assert "待填报" in http.get(path).text  # nothing was recorded
        r = http.post(path, data={**form, "csrf": csrf_of(page.text)})
        assert r.status_code == 303


def test_submit_with_a_photo_then_the_teammate_signs(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    a, b = team[0], team[1]
    with httpx.Client(base_url=base) as http_a, httpx.Client(base_url=base) as http_b:
        page = http_a.get(_open(http_a, outbox_link(code, a, base)).headers["location"])
        path = urlsplit(str(page.url)).path
        draft = {"csrf": csrf_of(page.text), "result": "未发现问题", "check_date": "2026-12-10",
                 "description": "现场检查，证书有效", "action": "draft"}  # fmt: skip
        r = http_a.post(path, data=draft, files={"photo": ("gate.png", PNG, "image/png")})
        assert r.status_code == 303
        page = http_a.get(path)
        assert "现场检查，证书有效" in page.text  # the draft is kept on the server
        photo = re.search(r'src="([^"]+/evidence/[0-9a-f]{64})"', page.text)
        assert photo and http_a.get(photo.group(1)).content == PNG
        # an invalid result keeps the draft and says which field
        bad = http_a.post(path, data={**draft, "result": "no_such", "action": "submit"})
        assert bad.status_code == 422 and "检查结果" in bad.text and "证书有效" in bad.text
        r = http_a.post(path, data={**draft, "result": "no_problem", "action": "submit"})
        assert r.status_code == 303
        after = http_a.get(path).text
        name_b = re.search(r"待 (\S+) 签字确认", after)
        assert name_b and "已完成" not in after and "签字确认第 1 版" not in after
        page_b = http_b.get(_open(http_b, outbox_link(code, b, base)).headers["location"]).text
        assert f"待 {name_b.group(1)} 签字确认" in page_b and "签字确认第 1 版" in page_b
        r = http_b.post(f"{path}/sign", data={"csrf": csrf_of(page_b), "version": "1"})
        assert r.status_code == 303
        final = http_b.get(path).text
        assert "已完成" in final and "签字确认" in final and "版本记录" in final
        # nothing left to sign; a correction with its reason is still offered
        assert "签字确认第 1 版" not in final and "已确认的结果有误？提交更正" in final
    with Session(engine) as s:
        events = [e.event for e in s.exec(select(AuditEvent).where(AuditEvent.round_key == ROUND))]
    for name in ("WorkspaceOpened", "EvidenceAttached", "DraftSaved", "FindingRecorded",
                 "FindingSigned"):  # fmt: skip
        assert name in events


def test_the_token_is_in_no_log_line(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    teams = delivered_round(engine, monkeypatch)
    code, team = sorted(teams.items())[0]
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    watched = [logging.getLogger(n) for n in ("", "uvicorn.access", "uvicorn.error")]
    access = logging.getLogger("uvicorn.access")
    level = access.level
    # uvicorn configures its loggers when the server is made: watch them after that
    with serve_app(create_app(engine=engine), access_log=True) as base:
        for lg in watched:
            lg.addHandler(keep)
        access.setLevel(logging.INFO)
        try:
            link = outbox_link(code, team[0], base)
            token = link.rsplit("token=", 1)[1]
            with httpx.Client(base_url=base) as http:
                assert sign_in(http, link).status_code == 303  # the page, then its button
        finally:
            access.setLevel(level)
            for lg in watched:
                lg.removeHandler(keep)
    assert any("/w/open/" in line for line in lines), "the access log was not captured"
    assert not [line for line in lines if token in line]


def test_revoking_the_inspector_ends_the_session(live: tuple[str, dict], engine: sa.Engine) -> None:
    from api import inspector_tokens

    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        page = http.get(_open(http, outbox_link(code, team[0], base)).headers["location"])
        assert page.status_code == 200
        inspector_tokens.revoke(engine, team[0], round_key=ROUND, by="李协调", reason="换人")
        again = http.get(urlsplit(str(page.url)).path)
        assert again.status_code == 401 and "链接已被撤销" in again.text
        assert "were revoked" not in again.text  # the API's English is for API clients
        r = http.post(urlsplit(str(page.url)).path, data={"csrf": csrf_of(page.text)})
        assert r.status_code == 401
        link = http.get(outbox_link(code, team[0], base))  # the notice's link, again
        assert link.status_code == 401 and "链接已被撤销" in link.text


def test_what_a_client_can_send_wrong_is_answered_without_a_server_error(
    live: tuple[str, dict],
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        page = http.get(_open(http, outbox_link(code, team[0], base)).headers["location"])
        path = urlsplit(str(page.url)).path
        csrf = csrf_of(page.text)
        form = {"csrf": csrf, "description": "写了很多字", "action": "submit"}
        # a page, not a photo: refused, and what was typed is kept
        r = http.post(path, data=form, files={"photo": ("x.html", b"<html>", "text/html")})
        assert r.status_code == 422 and "“x.html”未保存" in r.text and "写了很多字" in r.text
        answers = [
            http.post(path, json={"csrf": csrf}),
            http.post(
                path,
                content=b"--x\r\nbroken",
                headers={"Content-Type": "multipart/form-data; boundary=x"},
            ),
            http.post(path, data={**form, "result": "no_problem", "check_date": "2026-13-45"}),
            http.post(
                path,
                data={
                    **form,
                    "result": "no_problem",
                    "check_date": "2026-12-10",
                    "cert:XX:1": "kept",
                },
            ),  # fmt: skip
            http.post(f"{path}/sign", data={"csrf": csrf, "version": "x"}),
            http.post(f"{path}/sign", data={"csrf": csrf, "version": "7"}),
            http.get(f"{path}/evidence/..%2F..%2Fetc%2Fpasswd"),
            http.get(f"/w/open/{ROUND}/{code}?token=%00%ff"),
        ]
    for r in answers:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text[:300])
