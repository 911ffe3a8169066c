"""One token a request: two ``Authorization`` headers, or a bearer token in the header and
another in the address, are refused (401) on the API and on a workspace sign-in link; before,
the framework took the first header (a proxy reading the last saw another caller) and the
header over the address (the address's token, the one a proxy logs, passed over in silence).

Through a real ``shuangsui serve`` process on loopback, on SQLite and PostgreSQL, the headers
written as sent with ``http.client`` (``api.auth.header_refusal``)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.findings.factories import ROUND
from tests.security.served import Served, serving


@pytest.fixture
def server(engine: sa.Engine, db_url: str, tmp_path: Path) -> Iterator[Served]:
    with serving(engine, db_url, tmp_path) as served:
        yield served


def _get(served: Served, path: str, headers: list[tuple[str, str]]) -> tuple[int, str, str]:
    """GET ``path`` with ``headers`` each on a line of its own, repeated names included; the
    status, the media type and the body."""
    address = urlsplit(served.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        conn.putrequest("GET", path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        return answer.status, answer.getheader("content-type", ""), answer.read().decode()
    finally:
        conn.close()


def _refused(answer: tuple[int, str, str], slug: str) -> str:
    status, media, body = answer
    assert (status, media) == (401, "application/problem+json"), answer
    problem = json.loads(body)
    assert problem["type"] == f"urn:shuangsui:problem:{slug}", problem
    return str(problem["detail"])


def _bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


def test_two_authorization_headers_are_refused_in_either_order(server: Served) -> None:
    (code, team), (other_code, other_team) = sorted(server.teams.items())[:2]
    lead, other = server.token(code, team[0]), server.token(other_code, other_team[0])
    api = f"/findings/{ROUND}/{code}"
    assert _get(server, api, [_bearer(lead)])[0] == 200
    for pair in ([lead, other], [other, lead], [lead, "garbage"], [server.coordinator, lead]):
        detail = _refused(_get(server, api, [_bearer(t) for t in pair]), "authorization-repeated")
        assert "more than one Authorization header" in detail
    # the same genuine header twice is two headers all the same
    _refused(_get(server, api, [_bearer(lead), _bearer(lead)]), "authorization-repeated")
    # a coordinator's route as well
    two = [_bearer(server.coordinator), _bearer("ssc_forged")]
    _refused(_get(server, f"/rounds/{ROUND}/findings", two), "authorization-repeated")


def test_a_token_in_the_header_and_another_in_the_address_are_refused(server: Served) -> None:
    (code, team), (other_code, other_team) = sorted(server.teams.items())[:2]
    lead, other = server.token(code, team[0]), server.token(other_code, other_team[0])
    api = f"/findings/{ROUND}/{code}"
    # the header's opened, the address's passed over: a coordinator's, a stranger's
    for header, address in ((server.coordinator, lead), (lead, other), (other, lead)):
        detail = _refused(_get(server, f"{api}?token={address}", [_bearer(header)]), "token-twice")
        assert "Authorization header and another in the address" in detail
    # one token in both places is one token; another scheme's header is not a token
    assert _get(server, f"{api}?token={lead}", [_bearer(lead)])[0] == 200
    basic = ("Authorization", "Basic d2FuZ3d1OnNlY3JldA==")  # a proxy's own sign-in
    assert _get(server, f"{api}?token={lead}", [basic])[0] == 200
    # a workspace sign-in link: its refusal page, no session
    status, media, page = _get(server, f"/w/open/{ROUND}/{code}?token={lead}", [_bearer(other)])
    assert status == 401 and media.startswith("text/html"), (status, page[:300])
    status, _, page = _get(server, f"/w/open/{ROUND}/{code}?token={lead}", [])
    assert status == 200, page[:300]
