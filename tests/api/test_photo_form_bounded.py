"""The inspector's findings form on a real ``shuangsui serve`` process, its photos together past
``SHUANGSUI_EVIDENCE_MAX_BYTES`` (3 MiB here): the post is read through up to the ceiling (four
times the limit) instead of refused unread, and what the server holds stays bounded all the
same: the photos past the limit are counted and let go as they come, never held, so the
server's memory does not grow by them; the text is kept as the draft and the page names the
photos not kept. A post declaring more than the ceiling is still refused before it is read."""

from __future__ import annotations

import html
import http.client
import json
import re

import httpx

from tests.api.test_limits import MiB, Server, server  # noqa: F401 - the fixture, shared
from tests.findings.factories import ROUND
from workspace import drafts

TYPED = "现场核对铭牌与证书一致"
FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": TYPED}


def _signed_in(http: httpx.Client, server: Server) -> tuple[str, str]:  # noqa: F811
    """Open the member's link as the page does; the assignment page's path and its CSRF."""
    opened = http.get(f"/w/open/{ROUND}/{server.code}", params={"token": server.token})
    token = re.search(r'name="token" value="([^"]+)"', opened.text)
    assert opened.status_code == 200 and token, opened.text[:300]
    r = http.post(
        f"/w/open/{ROUND}/{server.code}",
        data={"token": html.unescape(token.group(1))},
        headers={"Origin": server.url},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    path = r.headers["location"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', http.get(path).text)
    assert csrf
    return path, html.unescape(csrf.group(1))


def test_photos_past_the_limit_are_let_go_and_the_text_kept(server: Server) -> None:  # noqa: F811
    photos = [
        ("photo", (f"p{i}.jpg", b"\xff\xd8\xff\xe0" + bytes([i]) * (5 * MiB // 2), "image/jpeg"))
        for i in range(4)  # 10 MiB together: one fits in 3 MiB, three are let go
    ]
    with httpx.Client(base_url=server.url, timeout=120) as http:
        path, csrf = _signed_in(http, server)
        rss_before, _ = server.memory()
        r = http.post(path, data={"csrf": csrf, **FORM, "action": "submit"}, files=photos)
        _, peak_after = server.memory()
    said = html.unescape(r.text)
    assert r.status_code == 422, said[:500]
    for name in ("p1.jpg", "p2.jpg", "p3.jpg"):
        assert f"照片“{name}”（2.5 MB）未保存：一次保存或提交的照片和文件合计不能超过 3 MB" in said
    assert f">{TYPED}</textarea>" in said
    (saved,) = drafts.drafts_dir(server.home).glob("*.json")  # the member's one draft
    draft = json.loads(saved.read_text(encoding="utf-8"))
    assert draft["description"] == TYPED
    assert [e["filename"] for e in draft["evidence"]] == ["p0.jpg"]
    grew = peak_after - rss_before
    print(f"server peak memory grew by {grew / MiB:.1f} MiB for a post of 10 MiB")
    assert grew < 30 * MiB, f"server memory grew by {grew / MiB:.0f} MiB"


def test_a_post_declaring_more_than_the_ceiling_is_refused_unread(server: Server) -> None:  # noqa: F811
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:  # the length alone: no body is sent, none is read
        conn.request(
            "POST", f"/w/a/{ROUND}/{server.code}", headers={"Content-Length": str(12 * MiB + 1)}
        )
        answer = conn.getresponse()
        said = html.unescape(answer.read().decode())
    finally:
        conn.close()
    assert answer.status == 413 and answer.getheader("connection") == "close"
    assert "一次提交不能超过 12 MB（其中照片和文件合计最多保存 3 MB）" in said, said[:500]
