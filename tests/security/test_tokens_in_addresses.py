"""Tokens in the address, however the address is spelled: a ``token`` parameter whose name is
percent-encoded or given twice is refused, a coordinator's token is taken in the address only by
its workspace sign-in link, and none of them, nor a token under a name the server does not read,
reaches the access log.

Through a real ``shuangsui serve`` process on loopback, on SQLite and PostgreSQL, reading its
captured output (uvicorn's access log included)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.deploy.procs import REPO_ROOT, Proc, clean_env, start, wait_for
from tests.findings.factories import ROUND, drawn_round
from tests.servers import free_port


@dataclass
class Served:
    url: str
    proc: Proc
    inspector: str  # the link token of the first inspector of ``page``'s enterprise
    coordinator: str
    credit_code: str

    @property
    def link(self) -> str:
        return f"/w/open/{ROUND}/{self.credit_code}"

    @property
    def api(self) -> str:
        return f"/findings/{ROUND}/{self.credit_code}"

    def log(self) -> str:
        self.proc.stop()
        return self.proc.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def served(engine: sa.Engine, db_url: str, tmp_path: Path) -> Iterator[Served]:
    """A drawn round, a coordinator token, and ``shuangsui serve`` with its output in a file."""
    code, team = sorted(drawn_round(engine).items())[0]
    settings = get_settings()
    inspector = assignment_token(settings.secret_key.get_secret_value(), ROUND, code, team[0])
    coordinator = tokens.create_coordinator(engine, "王五", settings.bureau_code)
    port = free_port()
    env = clean_env(
        SHUANGSUI_HOME=str(tmp_path / "serve-home"),
        SHUANGSUI_DATABASE_URL=db_url,
        SHUANGSUI_ENVIRONMENT="test",
    )
    proc = start(
        "serve",
        [sys.executable, "-m", "shuangsui", "serve", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        log=tmp_path / "serve.log",
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, 60, "shuangsui serve", poll=0.2, alive=proc, details=proc.output)
        yield Served(url, proc, inspector, coordinator, code)
    finally:
        proc.stop()


def _problem(r: httpx.Response, status: int, slug: str) -> str:
    assert r.status_code == status, (r.request.url, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == f"urn:shuangsui:problem:{slug}", body
    return str(body["detail"])


def _refused_page(r: httpx.Response) -> str:
    """A workspace sign-in link refused: a 401 page and no session."""
    assert r.status_code == 401, (r.request.url, r.status_code, r.text[:500])
    assert "set-cookie" not in r.headers, r.headers
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def test_a_token_under_any_spelling_of_its_name_opens_nothing_and_is_never_logged(
    served: Served,
) -> None:
    insp, ssc = served.inspector, served.coordinator
    with httpx.Client(base_url=served.url, timeout=10) as http:
        # the name percent-encoded (Starlette decodes it to 'token'): refused, no session
        for name in ("tok%65n", "%74oken", "%74%6F%6B%65%6E", "to%6Ben"):
            page = _refused_page(http.get(f"{served.link}?{name}={insp}"))
            assert "“token”一词被转码" in page
            detail = _problem(http.get(f"{served.api}?{name}={insp}"), 401, "token-name-encoded")
            assert "'?token='" in detail and "Authorization: Bearer" in detail
        _problem(http.get(f"/rounds?tok%65n={ssc}"), 401, "token-name-encoded")
        _refused_page(http.get(f"/w/c/open?tok%65n={ssc}"))
        # names the server does not read as 'token' open nothing
        for query in (
            f"TOKEN={insp}",
            f"Token={insp}",
            f"%54oken={insp}",
            f"token+={insp}",
            f"a=1;token={insp}",
            f"t={insp}",
            f"tok%2565n={insp}",
        ):
            _problem(http.get(f"{served.api}?{query}"), 401, "token-missing")
        # a token in the path opens nothing either
        assert http.get(f"{served.link}/token%3D{insp}").status_code == 404
        assert http.get(f"{served.link}/;token={insp}").status_code == 404
        assert http.get(f"{served.link}?x=1&token%3D{insp}").status_code == 401
        # a Referer naming a link (uvicorn does not log it; redacted if anything did)
        referer = {"Referer": f"{served.url}{served.link}?token={insp}"}
        assert http.get("/health", headers=referer).status_code == 200
        # the real link still opens the assignment
        assert http.get(f"{served.link}?token={insp}").status_code == 303

    log = served.log()
    assert "tok%65n=[redacted]" in log and "%74oken=[redacted]" in log, log[-3000:]
    assert "TOKEN=[redacted]" in log and "t=[redacted]" in log, log[-3000:]
    assert "token%3D[redacted]" in log, log[-3000:]  # the path, as uvicorn quotes it
    for secret in (insp, ssc, ssc.removeprefix(tokens.PREFIX)):
        assert secret not in log, log[-3000:]


def test_a_coordinator_token_only_in_its_sign_in_link_and_one_token_per_request(
    served: Served,
) -> None:
    insp, ssc = served.inspector, served.coordinator
    bearer = {"Authorization": f"Bearer {ssc}"}
    with httpx.Client(base_url=served.url, timeout=10) as http:
        # the API takes a coordinator's token as a header only
        for path in ("/rounds", "/deadlines", served.api):
            detail = _problem(http.get(path, params={"token": ssc}), 401, "token-in-query")
            assert "Authorization: Bearer" in detail and "/w/c/open" in detail
        _problem(http.get("/rounds", params={"token": ssc}, headers=bearer), 401, "token-in-query")
        assert http.get("/rounds", headers=bearer).status_code == 200
        assert http.get("/health", params={"token": ssc}).status_code == 200  # public: open
        # an inspector's link still works as a query parameter
        assert http.get(served.api, params={"token": insp}).status_code == 200

        # more than one token parameter: refused wherever a token is read from the address,
        # whatever the values (the last one used to win)
        for query in (
            f"token=ssc_bad&token={ssc}",
            f"token={ssc}&token={ssc}",
            f"token={ssc}&tok%65n={ssc}",
            f"token=&token={ssc}",
        ):
            page = _refused_page(http.get(f"/w/c/open?{query}"))
            assert "不止一个令牌" in page
        for query in (f"token=x&token={insp}", f"token={insp}&token={insp}"):
            _refused_page(http.get(f"{served.link}?{query}"))
            detail = _problem(http.get(f"{served.api}?{query}"), 401, "token-repeated")
            assert "more than one 'token' parameter" in detail
        _problem(http.get(f"/rounds?token={ssc}&token={ssc}"), 401, "token-repeated")

        # the documented sign-in link takes the coordinator's token, once
        signed = http.get("/w/c/open", params={"token": ssc})
        assert signed.status_code == 303 and "ssw_c=" in signed.headers["set-cookie"]
        assert http.get("/w/c/").status_code == 200

    log = served.log()
    for secret in (insp, ssc, ssc.removeprefix(tokens.PREFIX)):
        assert secret not in log, log[-3000:]
