"""The session cookies over TLS are ``__Host-`` cookies (``workspace.sessions.cookie``): Secure,
``Path=/``, no ``Domain``, which a browser takes only from this host over https, so no sibling
host of the bureau's domain and no page on another path can put one of their name beside ours.
On plain http (the loopback demo, the tests) they keep their plain names and paths. Both ways
in a real Chromium at 390 px with JavaScript off: the server over TLS on loopback (a
self-signed certificate made here), and over http; an inspector holding two assignments in one
browser keeps both sessions (an inspector's ``__Host-`` cookie is named for its assignment)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import BrowserContext

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.browser import PHONE, headless
from tests.findings.factories import ROUND
from tests.servers import serve_app
from tests.workspace.helpers import delivered_round, outbox_link, sign_in, sign_in_page
from workspace import sessions
from workspace.guards import NO_SESSION, page_path


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )  # fmt: skip
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    return certfile, keyfile


@contextmanager
def _served(engine: sa.Engine, tls: Path | None) -> Iterator[str]:
    """The app on loopback, over TLS with a certificate made in ``tls``, or over http."""
    if tls is None:
        with serve_app(create_app(engine=engine)) as base:
            yield base
        return
    certfile, keyfile = _certificate(tls)
    app = create_app(engine=engine)
    with serve_app(app, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as base:
        yield base.replace("http://", "https://")


def _phone(browser, *, tls: bool) -> BrowserContext:  # type: ignore[no-untyped-def]
    return browser.new_context(viewport=PHONE, java_script_enabled=False, locale="zh-CN",
                               ignore_https_errors=tls)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
def test_session_cookies_are_host_cookies_over_tls_and_plain_on_http(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tls: bool
) -> None:
    teams = delivered_round(engine, monkeypatch)
    (first, first_team), (second, second_team), *_ = sorted(teams.items())
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    shots = tmp_path / "screens"
    shots.mkdir()
    with _served(engine, tmp_path if tls else None) as base, headless() as browser:
        assert base.startswith("https://" if tls else "http://")
        context = _phone(browser, tls=tls)
        page = context.new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        assert page.url == f"{base}/w/c/" and page.locator(".signout").count() == 1
        page.screenshot(path=str(shots / f"month-{tls}.png"), full_page=True)
        # two assignments opened in the same browser (a shared office computer): each its own
        for code, team in ((first, first_team), (second, second_team)):
            sign_in_page(page, outbox_link(code, team[0], base))
            assert page.url == base + page_path(ROUND, code), page.url
        held = context.cookies()
        by_name = sorted((c["name"], c["path"]) for c in held)
        if tls:
            (a, _), (b, _), (c, _) = by_name  # each assignment's cookie named for it
            assert c == "__Host-ssw_c" and a != b, by_name
            assert all(re.fullmatch(r"__Host-ssw_a_[0-9a-f]{16}", n) for n in (a, b)), by_name
            assert {p for _, p in by_name} == {"/"}, by_name
        else:
            paths = sorted([page_path(ROUND, first), page_path(ROUND, second)])
            assert by_name == [("ssw_a", paths[0]), ("ssw_a", paths[1]), ("ssw_c", "/w/c")]
        for made in held:
            assert made["secure"] is tls and made["httpOnly"] and made["sameSite"] == "Strict"
            assert made["domain"] == "127.0.0.1", made  # host-only: no Domain attribute
        # every page opens under its own cookie, the first assignment's too
        for path in ("/w/c/", page_path(ROUND, first), page_path(ROUND, second)):
            answer = page.goto(base + path)
            assert answer is not None and answer.status == 200, (path, answer and answer.status)
            assert NO_SESSION not in page.content()
        page.screenshot(path=str(shots / f"assignment-{tls}.png"), full_page=True)
        # 退出 on the second assignment ends that one only
        page.locator(".signout button").click()
        page.wait_for_load_state()
        assert "已退出。" in page.content()
        assert len(context.cookies()) == 2, context.cookies()
        assert page.goto(base + page_path(ROUND, first)).status == 200  # type: ignore[union-attr]
        assert page.goto(base + page_path(ROUND, second)).status == 401  # type: ignore[union-attr]
        month = next(c["value"] for c in held if c["name"].endswith("ssw_c"))
        context.close()
    if tls:
        return
    # over http a cookie of the prefixed name is no session (a browser would not send one)
    with _served(engine, None) as base, httpx.Client(base_url=base) as http:
        assert http.get("/w/c/", headers={"Cookie": f"__Host-ssw_c={month}"}).status_code == 401


def test_over_tls_a_cookie_without_the_prefix_is_no_session(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A sibling host of the bureau's domain can set ``ssw_c`` with ``Domain=``, never a
    ``__Host-`` one: over TLS only the prefixed name is read, a genuine session's value under
    the plain name opens nothing."""
    delivered_round(engine, monkeypatch)
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with _served(engine, tmp_path) as base, httpx.Client(base_url=base, verify=False) as http:
        opened = sign_in(http, f"{base}/w/c/open?token={ssc}")
        assert opened.status_code == 303, opened.text[:300]
        made = opened.headers["set-cookie"]
        assert made.startswith("__Host-ssw_c=") and "Path=/;" in made and "Domain" not in made
        assert "secure" in made.lower()
        value = opened.cookies["__Host-ssw_c"]
        http.cookies.clear()
        assert http.get("/w/c/", headers={"Cookie": f"__Host-ssw_c={value}"}).status_code == 200
        plain = http.get("/w/c/", headers={"Cookie": f"ssw_c={value}"})
        assert plain.status_code == 401 and "没有有效的协调员会话" in plain.text


@pytest.mark.slow
def test_signing_in_over_tls_drops_the_assignment_cookies_that_open_nothing(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Over TLS every assignment's cookie has ``Path=/`` and goes with every request to this
    host; a browser left open keeps them until it closes. Signing in to an assignment drops
    the others that open nothing any more (expired, or not ours) and keeps, of those that
    still do, the newest ``ASSIGNMENTS_KEPT - 1``: the cookies a browser sends stay far below
    what a request's head may hold (16 KiB), however many links it opened."""
    teams = delivered_round(engine, monkeypatch)
    code, team = sorted(teams.items())[0]
    secret = get_settings().secret_key.get_secret_value()
    now = time.time()

    def held(number: int, at: float) -> tuple[str, str]:
        value, _ = sessions.issue(
            secret, sessions.Session("inspector", "检查员", ROUND, f"{number:018d}"), now=at
        )
        return f"__Host-ssw_a_{number:016x}", value

    expired = [held(n, now - sessions.LIFETIME_SECONDS - 60 - n) for n in range(12)]
    forged = [
        (f"__Host-ssw_a_{n:016x}", "e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        for n in range(100, 110)
    ]
    live = [held(n, now - 60 * n) for n in range(200, 228)]  # the smaller n, the newer
    with _served(engine, tmp_path) as base, headless() as browser:
        context = _phone(browser, tls=True)
        context.add_cookies([{"name": name, "value": value, "url": base + "/", "secure": True,
                              "httpOnly": True, "sameSite": "Strict"}
                             for name, value in expired + forged + live])  # fmt: skip
        page = context.new_page()
        sign_in_page(page, outbox_link(code, team[0], base))
        assert page.url == base + page_path(ROUND, code), page.url
        assert NO_SESSION not in page.content()
        names = {c["name"] for c in context.cookies() if c["name"].startswith("__Host-ssw_a_")}
        kept = {name for name, _ in live[: sessions.ASSIGNMENTS_KEPT - 1]}
        opened = names - kept
        assert len(opened) == 1 and kept <= names, sorted(names)
        assert len(names) == sessions.ASSIGNMENTS_KEPT, len(names)
        # the page of the assignment just opened still opens under its cookie
        assert page.goto(base + page_path(ROUND, code)).status == 200  # type: ignore[union-attr]
        context.close()
