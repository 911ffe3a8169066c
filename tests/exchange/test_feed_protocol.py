"""The partner feed answers what docs/exchange-protocol.md says, to careless clients too, over
real HTTP on loopback, on both databases: conditional GETs by weak comparison, ``HEAD``, the
next link keeping ``limit``, integers written only as the protocol writes them, and every
422 in the documented shape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange import httpsig
from exchange.keys import BureauKey
from tests.exchange.bureaus import Bureau, make_bureau, publish, served, write_directory

FEED = "/exchange/v1"
PROBLEM = "application/problem+json"
MAX = 2**63 - 1


@dataclass
class Feed:
    fj: Bureau
    url: str
    sh: BureauKey

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """``method path`` (under the feed), signed by Shanghai, a partner."""
        signature = httpsig.sign_request(self.sh, method, self.url + FEED + path)
        return httpx.request(
            method, self.url + FEED + path, headers=signature | (headers or {}), timeout=20
        )


@pytest.fixture
def feed(db_url: str, tmp_path: Path) -> Iterator[Feed]:
    fj = make_bureau(tmp_path, "350000", db_url)
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = "http://sh.example"
    write_directory(fj.home / "partners.toml", [sh])
    for i in range(5):
        publish(fj, f"91350100MA{i:07d}X", n=i)
    try:
        with served(fj) as url:
            yield Feed(fj, url, sh.key)
    finally:
        fj.engine.dispose()
        sh.engine.dispose()


# ------------------------------------------------------------------ If-None-Match
def test_if_none_match_compares_weakly(feed: Feed) -> None:
    """RFC 9110 §13.1.2: a weak tag, a list holding the tag, or ``*`` is a match (304)."""
    first = feed.request("GET", "/checkpoint")
    etag = first.headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', f'W/"other" ,W/{etag}', "*"):
        r = feed.request("GET", "/checkpoint", {"If-None-Match": header})
        assert (r.status_code, r.content, r.headers["etag"]) == (304, b"", etag), header
    for header in ('"other"', f'W/{etag[:-2]}"', etag.strip('"'), ""):
        r = feed.request("GET", "/checkpoint", {"If-None-Match": header})
        assert (r.status_code, r.text) == (200, first.text), header


# ------------------------------------------------------------------ HEAD
@pytest.mark.parametrize(
    "path", ["/checkpoint", "/entries?start=1", "/proof/inclusion?index=1&size=5", "/keys"]
)
def test_head_is_answered_like_get_without_a_body(feed: Feed, path: str) -> None:
    """Signed for ``HEAD`` (the method a client sends), answered with GET's headers."""
    got = feed.request("GET", path)
    head = feed.request("HEAD", path)
    assert (head.status_code, head.content) == (200, b"")
    for name in ("content-type", "content-length", "etag", "link"):
        assert head.headers.get(name) == got.headers.get(name), name
    # a HEAD signature is not a GET one: @method is covered
    signature = httpsig.sign_request(feed.sh, "GET", feed.url + FEED + path)
    assert httpx.head(feed.url + FEED + path, headers=signature).status_code == 401


# ------------------------------------------------------------------ the next link
def _walk(feed: Feed, path: str) -> tuple[list[int], list[int]]:
    """Follow ``rel="next"`` from ``path``: (the seq of each entry, the size of each page)."""
    seqs, pages = [], []
    while True:
        r = feed.request("GET", path)
        assert r.status_code == 200, r.text
        page = [e["seq"] for e in r.json()["entries"]]
        seqs += page
        pages.append(len(page))
        link = r.headers.get("link")
        if link is None:
            return seqs, pages
        found = re.fullmatch(rf'<{FEED}(/entries\?[^>]*)>; rel="next"', link)
        assert found, link
        path = found[1]


def test_the_next_link_keeps_the_limit(feed: Feed) -> None:
    assert _walk(feed, "/entries?start=0&limit=2") == ([0, 1, 2, 3, 4], [2, 2, 1])
    assert _walk(feed, "/entries?start=1&end=4&limit=2") == ([1, 2, 3], [2, 1])
    link = feed.request("GET", "/entries?start=0&limit=2").headers["link"]
    assert link == f'<{FEED}/entries?start=2&end=5&limit=2>; rel="next"'


def test_without_a_limit_a_page_is_the_server_s(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PAGE_SIZE", "3")
    assert _walk(feed, "/entries?start=0") == ([0, 1, 2, 3, 4], [3, 2])
    link = feed.request("GET", "/entries").headers["link"]
    assert link == f'<{FEED}/entries?start=3&end=5>; rel="next"'
    assert _walk(feed, "/entries?limit=4") == ([0, 1, 2, 3, 4], [3, 2])  # the server's is less


# ------------------------------------------------------------------ integers and 422s
def _invalid(r: httpx.Response, parameter: str) -> dict[str, Any]:
    """The documented 422: problem+json, ``detail`` starting with the parameter, ``errors``
    naming ``query.<parameter>``."""
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    doc: dict[str, Any] = r.json()
    assert doc["type"] == "urn:shuangsui:problem:invalid-parameter", doc
    assert doc["detail"].startswith(f"{parameter}: "), doc
    assert [e["field"] for e in doc["errors"]] == [f"query.{parameter}"], doc
    return doc


NOT_PLAIN = [
    "1_0",
    "+1",  # a space, once decoded
    "%2B1",
    "%201",
    "1%20",
    "01",
    "-0",
    "0x1",
    "1e3",
    "1.0",
    "",
    "%EF%BC%91",  # a full-width digit one
    "%D9%A1",  # an Arabic-Indic digit one
    "1" * 5000,  # Python refuses int() of more than 4,300 digits
]


def test_an_integer_is_written_only_in_plain_digits(feed: Feed) -> None:
    for value in NOT_PLAIN:
        doc = _invalid(feed.request("GET", f"/entries?start={value}"), "start")
        assert "not an integer" in doc["detail"] or "outside" in doc["detail"]
        assert len(doc["detail"]) < 200  # the value is not echoed back


INVALID = [
    ("/entries?start=0&end=1_0", "end"),
    ("/entries?limit=0", "limit"),
    ("/entries?limit=+3", "limit"),
    (f"/entries?start={MAX + 1}", "start"),
    ("/entries?start=" + "9" * 40, "start"),
    ("/entries?start=-1", "start"),
    ("/proof/inclusion?index=1_0&size=3", "index"),
    ("/proof/inclusion?index=0&size=0", "size"),
    ("/proof/inclusion?size=3", "index"),  # missing
    ("/proof/inclusion?index=3&size=3", "index"),
    ("/proof/consistency?first=01&second=3", "first"),
    ("/proof/consistency?first=1&second=%203", "second"),
    ("/proof/consistency?first=3&second=2", "first"),
    ("/entries?start=3&end=2", "start"),
]


def test_every_422_has_the_documented_shape(feed: Feed) -> None:
    for query, parameter in INVALID:
        _invalid(feed.request("GET", query), parameter)


def test_plain_integers_still_answer(feed: Feed) -> None:
    assert feed.request("GET", "/entries?start=0&end=5&limit=5").json()["end"] == 5
    assert feed.request("GET", "/proof/inclusion?index=0&size=1").json()["proof"] == []
    assert feed.request("GET", "/proof/consistency?first=0&second=5").status_code == 200
    r = feed.request("GET", f"/entries?start={MAX}")
    assert r.status_code == 404 and r.json()["type"] == "urn:shuangsui:problem:out-of-range"


def test_a_trailing_slash_is_another_path(feed: Feed) -> None:
    """No redirect (its URL would come from ``Host``): a 404 problem, before any signature."""
    for path in ("/checkpoint/", "/entries/", "/keys/"):
        r = feed.request("GET", path, {"Host": "evil.example"})
        assert r.status_code == 404 and "location" not in r.headers
        assert r.headers["content-type"] == PROBLEM
