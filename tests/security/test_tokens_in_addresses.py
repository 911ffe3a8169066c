"""Tokens in the address, however the address is spelled: a ``token`` parameter whose name is
percent-encoded or given twice is refused, a coordinator's token is taken in the address only by
its workspace sign-in link, and none of them, nor a token under a name the server does not read,
reaches the access log.

Through a real ``shuangsui serve`` process on loopback, on SQLite and PostgreSQL, reading its
captured output (uvicorn's access log included)."""

from __future__ import annotations

import httpx

from api import tokens
from tests.findings.factories import ROUND
from tests.security.served import Served
from tests.workspace.helpers import sign_in


def _first(served: Served) -> tuple[str, str, str]:
    """The round's first enterprise (by credit code): its first inspector's link token, its
    sign-in link (``/w/open/...``) and its findings in the API."""
    code, team = sorted(served.teams.items())[0]
    return served.token(code, team[0]), f"/w/open/{ROUND}/{code}", f"/findings/{ROUND}/{code}"


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
    (insp, link, api), ssc = _first(served), served.coordinator
    with httpx.Client(base_url=served.url, timeout=10) as http:
        # the name percent-encoded (Starlette decodes it to 'token'): refused, no session
        for name in ("tok%65n", "%74oken", "%74%6F%6B%65%6E", "to%6Ben"):
            page = _refused_page(http.get(f"{link}?{name}={insp}"))
            assert "“token”一词被转码" in page
            detail = _problem(http.get(f"{api}?{name}={insp}"), 401, "token-name-encoded")
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
            _problem(http.get(f"{api}?{query}"), 401, "token-missing")
        # a token in the path opens nothing either
        assert http.get(f"{link}/token%3D{insp}").status_code == 404
        assert http.get(f"{link}/;token={insp}").status_code == 404
        assert http.get(f"{link}?x=1&token%3D{insp}").status_code == 401
        # a Referer naming a link (uvicorn does not log it; redacted if anything did)
        referer = {"Referer": f"{served.url}{link}?token={insp}"}
        assert http.get("/health", headers=referer).status_code == 200
        # the real link still opens the assignment
        assert sign_in(http, f"{link}?token={insp}").status_code == 303

    log = served.log()
    assert "tok%65n=[redacted]" in log and "%74oken=[redacted]" in log, log[-3000:]
    assert "TOKEN=[redacted]" in log and "t=[redacted]" in log, log[-3000:]
    assert "token%3D[redacted]" in log, log[-3000:]  # the path, as uvicorn quotes it
    for secret in (insp, ssc, ssc.removeprefix(tokens.PREFIX)):
        assert secret not in log, log[-3000:]


def test_a_coordinator_token_only_in_its_sign_in_link_and_one_token_per_request(
    served: Served,
) -> None:
    (insp, link, api), ssc = _first(served), served.coordinator
    bearer = {"Authorization": f"Bearer {ssc}"}
    with httpx.Client(base_url=served.url, timeout=10) as http:
        # the API takes a coordinator's token as a header only
        for path in ("/rounds", "/deadlines", api):
            detail = _problem(http.get(path, params={"token": ssc}), 401, "token-in-query")
            assert "Authorization: Bearer" in detail and "/w/c/open" in detail
        _problem(http.get("/rounds", params={"token": ssc}, headers=bearer), 401, "token-in-query")
        assert http.get("/rounds", headers=bearer).status_code == 200
        assert http.get("/health", params={"token": ssc}).status_code == 200  # public: open
        # an inspector's link still works as a query parameter
        assert http.get(api, params={"token": insp}).status_code == 200

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
            _refused_page(http.get(f"{link}?{query}"))
            detail = _problem(http.get(f"{api}?{query}"), 401, "token-repeated")
            assert "more than one 'token' parameter" in detail
        _problem(http.get(f"/rounds?token={ssc}&token={ssc}"), 401, "token-repeated")

        # the documented sign-in link takes the coordinator's token, once
        signed = sign_in(http, f"/w/c/open?token={ssc}")
        assert signed.status_code == 303 and "ssw_c=" in signed.headers["set-cookie"]
        assert http.get("/w/c/").status_code == 200

    log = served.log()
    for secret in (insp, ssc, ssc.removeprefix(tokens.PREFIX)):
        assert secret not in log, log[-3000:]
